//! [`SockAddr`]: a socket address as the kernel reads and writes it (a
//! `sockaddr_storage` and its length), made from and read back into std's
//! addresses and Unix paths.
//!
//! The BSD-derived layouts (macOS) start with a length byte (`sin_len`,
//! `sin6_len`, `sun_len`); it is left zero, as std does: the kernel takes
//! the length from the call's `socklen_t` argument instead.

use std::io;
use std::mem::offset_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::Zeroed;

/// A socket address of any family, in storage large and aligned enough
/// for every one, with the length of the part in use.
#[derive(Clone, Copy)]
pub(crate) struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl std::fmt::Debug for SockAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.as_inet(), self.as_unix_path()) {
            (Some(inet), _) => write!(f, "SockAddr({inet})"),
            (None, Some(path)) => write!(f, "SockAddr(unix:{})", path.display()),
            (None, None) => write!(f, "SockAddr(family {}, {} bytes)", self.family(), self.len),
        }
    }
}

/// The family-specific address structs, each of which fits at the start of
/// a `sockaddr_storage` (checked below).
trait Family: Zeroed + Copy {}
impl Family for libc::sockaddr_in {}
impl Family for libc::sockaddr_in6 {}
impl Family for libc::sockaddr_un {}

const _: () = {
    use std::mem::{align_of, size_of};
    const STORAGE: usize = size_of::<libc::sockaddr_storage>();
    const ALIGN: usize = align_of::<libc::sockaddr_storage>();
    assert!(size_of::<libc::sockaddr_in>() <= STORAGE && align_of::<libc::sockaddr_in>() <= ALIGN);
    assert!(
        size_of::<libc::sockaddr_in6>() <= STORAGE && align_of::<libc::sockaddr_in6>() <= ALIGN
    );
    assert!(size_of::<libc::sockaddr_un>() <= STORAGE && align_of::<libc::sockaddr_un>() <= ALIGN);
};

impl SockAddr {
    fn from_family<F: Family>(addr: F) -> SockAddr {
        let mut storage = libc::sockaddr_storage::zeroed();
        // SAFETY: every `Family` struct is no larger and no more aligned
        // than `sockaddr_storage` (the const assertions above), so one fits
        // at its start; the storage is a live local we own.
        unsafe { std::ptr::write((&raw mut storage).cast::<F>(), addr) };
        SockAddr {
            storage,
            len: size_of::<F>() as libc::socklen_t,
        }
    }

    /// The storage viewed as family struct `F`.
    fn view<F: Family>(&self) -> &F {
        // SAFETY: `F` fits at the start of the storage and is no more
        // aligned (the const assertions above); every byte of the storage
        // is initialised and all-zero or kernel-written bytes are a valid
        // `F` (plain integers and arrays, the `Zeroed` contract).
        unsafe { &*(&raw const self.storage).cast::<F>() }
    }

    /// An IPv4 or IPv6 address.
    pub(crate) fn from_inet(addr: &SocketAddr) -> SockAddr {
        match addr {
            SocketAddr::V4(a) => {
                // Field by field over zeroes: `sin_zero` stays zero, and so
                // does `sin_len` where the platform has one.
                let mut sin = libc::sockaddr_in::zeroed();
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr = libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                };
                SockAddr::from_family(sin)
            }
            SocketAddr::V6(a) => {
                let mut sin6 = libc::sockaddr_in6::zeroed();
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_addr = libc::in6_addr {
                    s6_addr: a.ip().octets(),
                };
                sin6.sin6_scope_id = a.scope_id();
                SockAddr::from_family(sin6)
            }
        }
    }

    /// A Unix socket path; errors if the path does not fit (`sun_path`:
    /// 108 bytes with its NUL on Linux, 104 on macOS) or contains a NUL.
    pub(crate) fn from_unix_path(path: &Path) -> io::Result<SockAddr> {
        let bytes = path.as_os_str().as_bytes();
        let mut sun = libc::sockaddr_un::zeroed();
        if bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unix socket path contains a NUL byte",
            ));
        }
        if bytes.len() >= sun.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "unix socket path is {} bytes; the limit is {}",
                    bytes.len(),
                    sun.sun_path.len() - 1
                ),
            ));
        }
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let mut addr = SockAddr::from_family(sun);
        addr.len = (offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + 1) as libc::socklen_t;
        Ok(addr)
    }

    /// The address in the first bytes of `name` (a `recvmsg` name buffer);
    /// bytes past the storage's size are ignored.
    pub(crate) fn from_bytes(name: &[u8]) -> SockAddr {
        let mut storage = libc::sockaddr_storage::zeroed();
        let n = name.len().min(size_of::<libc::sockaddr_storage>());
        // SAFETY: copies `n` bytes, at most the storage's size, from a
        // slice into a live local; the two cannot overlap. Any bytes are a
        // valid `sockaddr_storage` (integers and arrays only).
        unsafe { std::ptr::copy_nonoverlapping(name.as_ptr(), (&raw mut storage).cast::<u8>(), n) };
        SockAddr {
            storage,
            len: n as libc::socklen_t,
        }
    }

    /// Zeroed storage for `call` to fill through a pointer and an in/out
    /// length, as `getsockname` and `getpeername` do.
    pub(crate) fn fill(
        call: impl FnOnce(*mut libc::sockaddr, &mut libc::socklen_t) -> io::Result<()>,
    ) -> io::Result<SockAddr> {
        let mut addr = SockAddr {
            storage: libc::sockaddr_storage::zeroed(),
            len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        };
        call((&raw mut addr.storage).cast(), &mut addr.len)?;
        Ok(addr)
    }

    /// For the kernel to read from: valid for [`len`](Self::len) bytes
    /// while `self` lives, unmoved.
    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&raw const self.storage).cast()
    }

    /// For the kernel to write into (a `msghdr`'s name): valid for the
    /// whole storage while `self` lives, unmoved.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&raw mut self.storage).cast()
    }

    /// Bytes of the storage in use.
    pub(crate) fn len(&self) -> libc::socklen_t {
        self.len
    }

    /// `AF_INET`, `AF_INET6`, `AF_UNIX`, …
    pub(crate) fn family(&self) -> libc::c_int {
        self.storage.ss_family as libc::c_int
    }

    /// The IP address, if this is IPv4 or IPv6.
    pub(crate) fn as_inet(&self) -> Option<SocketAddr> {
        match self.family() {
            libc::AF_INET => {
                let sin: &libc::sockaddr_in = self.view();
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                let sin6: &libc::sockaddr_in6 = self.view();
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// The path of a Unix socket address (`None` for an unnamed one, or
    /// another family).
    pub(crate) fn as_unix_path(&self) -> Option<PathBuf> {
        if self.family() != libc::AF_UNIX {
            return None;
        }
        let sun: &libc::sockaddr_un = self.view();
        let n = (self.len as usize).saturating_sub(offset_of!(libc::sockaddr_un, sun_path));
        let raw: Vec<u8> = sun.sun_path[..n.min(sun.sun_path.len())]
            .iter()
            .map(|c| *c as u8)
            .take_while(|b| *b != 0)
            .collect();
        if raw.is_empty() {
            return None;
        }
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(&raw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_ipv6_round_trip() {
        for s in ["127.0.0.1:8080", "[::1]:443", "[fe80::1%2]:9", "0.0.0.0:0"] {
            let addr: SocketAddr = s.parse().unwrap();
            let sa = SockAddr::from_inet(&addr);
            assert!(sa.len() as usize <= size_of::<libc::sockaddr_storage>());
            assert_eq!(sa.as_inet(), Some(addr), "{s}");
        }
    }

    #[test]
    fn unix_paths_round_trip_and_reject_bad_ones() {
        let sa = SockAddr::from_unix_path(Path::new("/tmp/ringline.sock")).unwrap();
        assert_eq!(sa.as_unix_path(), Some(PathBuf::from("/tmp/ringline.sock")));
        let long = "x".repeat(200);
        let err = SockAddr::from_unix_path(Path::new(&long)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let nul = std::ffi::OsStr::from_bytes(b"/tmp/a\0b");
        assert!(SockAddr::from_unix_path(Path::new(nul)).is_err());
    }
}
