//! `blocks-tokio`: the tokio servers of `ringline-bench blocks`. Each
//! request names a 4 KiB block of one file (`fs_common::blocks`); the
//! server reads it and writes it back. One `current_thread` runtime (one
//! worker, like the ringline side), a task per connection.
//!
//! ```text
//! blocks-tokio --file PATH [--api fs|pread] [--direct] ADDR
//! ```
//!
//! - `--api fs` (default): `tokio::fs::File`, opened per connection (a
//!   tokio `File` runs one operation at a time and has no positional read),
//!   `seek` then `read_exact`: each a `spawn_blocking` round trip through
//!   the `File`'s own buffer. This is `tokio::fs` as written.
//! - `--api pread`: one `std::fs::File` for the process, each read a
//!   `tokio::task::spawn_blocking` of `read_at` (`pread`) on the
//!   connection's buffer, moved in and back out: the fastest spelling of
//!   file I/O on tokio, one blocking-pool hop per request.
//! - `--direct` (`--api pread` only: tokio's `File` reads into its own,
//!   unaligned buffer): `O_DIRECT`, 4096-aligned buffers.
//!
//! Prints nothing on stdout; exits with status 0 on SIGTERM or SIGINT.

use std::io::{self, SeekFrom};
use std::net::SocketAddr;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use fs_common::AlignedBuf;
use fs_common::blocks::{self, BLOCK_SIZE, REQUEST_LEN};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
enum Api {
    /// `tokio::fs::File` per connection: seek, then `read_exact`.
    Fs,
    /// `spawn_blocking` of `pread` on one shared file.
    Pread,
}

/// The command line.
#[derive(clap::Parser, Debug)]
struct Args {
    /// The block file (made by the harness).
    #[arg(long)]
    file: PathBuf,
    /// Which tokio spelling of file I/O serves the reads.
    #[arg(long, value_enum, default_value_t = Api::Fs)]
    api: Api,
    /// Open the file with `O_DIRECT` (`--api pread` only).
    #[arg(long)]
    direct: bool,
    /// Where to listen.
    addr: SocketAddr,
}

/// How the blocks are read.
enum Reader {
    /// Open a `tokio::fs::File` per connection at this path.
    Fs(PathBuf),
    /// `pread` on this shared file.
    Pread(Arc<std::fs::File>),
}

/// Answers one connection's requests until it closes.
async fn serve(mut stream: TcpStream, reader: Arc<Reader>, len: u64) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut tokio_file = match &*reader {
        Reader::Fs(path) => Some(tokio::fs::File::open(path).await?),
        Reader::Pread(_) => None,
    };
    // `AlignedBuf` serves buffered reads as well: alignment costs nothing.
    let mut buf = AlignedBuf::new(BLOCK_SIZE);
    let mut request = [0u8; REQUEST_LEN];
    loop {
        match stream.read_exact(&mut request).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let index = blocks::parse_request(&request).expect("a whole request was read");
        let offset = blocks::block_offset(index, len).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("block {index} is past the end of the file"),
            )
        })?;
        match (&*reader, tokio_file.as_mut()) {
            (Reader::Fs(_), Some(file)) => {
                file.seek(SeekFrom::Start(offset)).await?;
                file.read_exact(buf.as_mut_slice()).await?;
            }
            (Reader::Pread(file), _) => {
                let file = file.clone();
                let (result, back) = tokio::task::spawn_blocking(move || {
                    let r = file.read_exact_at(buf.as_mut_slice(), offset);
                    (r, buf)
                })
                .await
                .map_err(io::Error::other)?;
                buf = back;
                result?;
            }
            (Reader::Fs(_), None) => unreachable!("opened above"),
        }
        stream.write_all(buf.as_slice()).await?;
    }
}

/// Opens the shared file for `--api pread`.
fn open_shared(path: &Path, direct: bool) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    if direct {
        options.custom_flags(libc::O_DIRECT);
    }
    options.open(path)
}

async fn run(args: Args) -> io::Result<()> {
    let len = std::fs::metadata(&args.file)?.len();
    let reader = Arc::new(match args.api {
        Api::Fs => Reader::Fs(args.file.clone()),
        Api::Pread => Reader::Pread(Arc::new(open_shared(&args.file, args.direct)?)),
    });
    let listener = TcpListener::bind(args.addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let reader = reader.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(stream, reader, len).await {
                eprintln!("blocks-tokio: {e}");
            }
        });
    }
}

fn main() {
    let args = Args::parse();
    if args.direct && args.api == Api::Fs {
        eprintln!(
            "blocks-tokio: --direct needs --api pread (tokio::fs::File buffers are unaligned)"
        );
        std::process::exit(3);
    }
    // Blocked before any runtime thread exists, so all inherit the mask and
    // only `sigwait` below sees the signals.
    let signals = block_termination_signals();
    std::thread::Builder::new()
        .name("blocks-tokio".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
            if let Err(e) = rt.block_on(run(args)) {
                fail(&e.to_string());
            }
        })
        .unwrap_or_else(|e| fail(&format!("spawn the runtime thread: {e}")));
    let mut sig = 0;
    // SAFETY: `signals` is an initialised set and `sig` a live out-param.
    unsafe { libc::sigwait(&signals, &mut sig) };
    // Connections go with the process: nothing to flush.
    std::process::exit(0);
}

/// Blocks SIGTERM and SIGINT in this thread (and so in every thread it
/// starts afterwards) and returns that set, for `sigwait`.
fn block_termination_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset and
    // pthread_sigmask read and write only that set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn fail(message: &str) -> ! {
    eprintln!("blocks-tokio: {message}");
    std::process::exit(1);
}
