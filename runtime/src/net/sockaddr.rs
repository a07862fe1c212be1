//! Conversions between std socket addresses and the C structures the
//! kernel reads and writes.
//!
//! The BSD-derived layouts (macOS) start with a length byte (`sin_len`,
//! `sin6_len`, `sun_len`); it is left zero, as std does: the kernel takes
//! the length from the call's `socklen_t` argument instead.

use std::io;
use std::mem::{offset_of, size_of};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `addr` as a `sockaddr_storage` and the length the kernel should read.
pub(crate) fn from_socket_addr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // Field by field over zeroes: `sin_zero` stays zero, and so does
            // `sin_len` where the platform has one.
            // SAFETY: all-zero bytes are a valid sockaddr_in.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in; we write one value at its start.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: all-zero bytes are a valid sockaddr_in6.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            // SAFETY: as for sockaddr_in above: the storage is larger than
            // and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The socket address in `storage`, if it is IPv4 or IPv6.
pub(crate) fn to_socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin: &libc::sockaddr_in =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6: &libc::sockaddr_in6 =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
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

/// A `sockaddr_un` for `path`; errors if the path does not fit (`sun_path`:
/// 108 bytes with its NUL on Linux, 104 on macOS) or contains a NUL byte.
pub(crate) fn from_unix_path(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: all-zero bytes are a valid sockaddr_un.
    let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
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
    let len = offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + 1;
    Ok((sun, len as libc::socklen_t))
}

/// The path in a `sockaddr_un` of length `len` (`None` for unnamed).
pub(crate) fn unix_path(sun: &libc::sockaddr_un, len: libc::socklen_t) -> Option<PathBuf> {
    let n = (len as usize).saturating_sub(offset_of!(libc::sockaddr_un, sun_path));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_ipv6_round_trip() {
        for s in ["127.0.0.1:8080", "[::1]:443", "[fe80::1%2]:9", "0.0.0.0:0"] {
            let addr: SocketAddr = s.parse().unwrap();
            let (storage, len) = from_socket_addr(&addr);
            assert!(len as usize <= size_of::<libc::sockaddr_storage>());
            assert_eq!(to_socket_addr(&storage), Some(addr), "{s}");
        }
    }

    #[test]
    fn unix_paths_round_trip_and_reject_bad_ones() {
        let (sun, len) = from_unix_path(Path::new("/tmp/ringline.sock")).unwrap();
        assert_eq!(
            unix_path(&sun, len),
            Some(PathBuf::from("/tmp/ringline.sock"))
        );
        let long = "x".repeat(200);
        let err = from_unix_path(Path::new(&long)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let nul = std::ffi::OsStr::from_bytes(b"/tmp/a\0b");
        assert!(from_unix_path(Path::new(nul)).is_err());
    }
}
