//! A minimal rtnetlink dump over a plain `libc` socket, for the collectors node_exporter feeds
//! from netlink (arp's neighbours, netdev's link statistics): one request, the reply messages
//! handed to a callback, NLMSG_DONE ends it. No crate: this is all either needs.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// Size of a `struct nlmsghdr`.
const HDR: usize = 16;
/// Dump datagrams are at most a few pages; MSG_TRUNC tells if one was larger anyway.
const RECV_BUF: usize = 64 * 1024;

/// The socket and receive buffer of the last dump, kept for the next one: a scrape makes
/// three dumps (netclass, netdev, arp), and creating a netlink socket for each, and a buffer,
/// cost more than the dumps of a small host. A dump that failed may leave replies queued, so
/// its socket is closed rather than kept; replies carry their request's sequence number, and
/// any other is skipped.
struct Socket {
    fd: OwnedFd,
    buf: Vec<u8>,
}

/// The kept sockets: rtnetlink's, and sock_diag's (udp_queues).
static KEPT: Mutex<[Option<Socket>; 2]> = Mutex::new([None, None]);
static NEXT_SEQ: AtomicU32 = AtomicU32::new(1);

impl Socket {
    fn open(protocol: libc::c_int) -> io::Result<Socket> {
        // SAFETY: plain socket(2); the result is checked and owned below.
        let fd = check(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        })?;
        // SAFETY: fd is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // A kernel that does not answer must not hang the scrape.
        let timeout = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: the option value is a timeval of the size given.
        check(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        })?;
        Ok(Socket {
            fd,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    fn dump(
        &mut self,
        seq: u32,
        kind: u16,
        request: &[u8],
        reply: u16,
        each: &mut impl FnMut(&[u8]),
    ) -> io::Result<()> {
        let len = HDR + request.len();
        let mut req = [0u8; 96];
        let req = req
            .get_mut(..len)
            .ok_or_else(|| invalid("request too long"))?;
        req[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
        req[4..6].copy_from_slice(&kind.to_ne_bytes());
        let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
        req[6..8].copy_from_slice(&flags.to_ne_bytes());
        req[8..12].copy_from_slice(&seq.to_ne_bytes());
        req[HDR..].copy_from_slice(request);
        // SAFETY: req is a valid buffer of the length given; sent to the kernel (no address).
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            self.buf.clear();
            let spare = self.buf.spare_capacity_mut();
            // SAFETY: spare is writable for its length; the kernel initialises what it returns.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    spare.as_mut_ptr().cast(),
                    spare.len(),
                    libc::MSG_TRUNC,
                )
            };
            let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
            if n == 0 {
                return Err(invalid("socket closed before NLMSG_DONE"));
            }
            if n > spare.len() {
                return Err(invalid("a reply larger than 64 KiB"));
            }
            // SAFETY: the kernel wrote n bytes.
            unsafe { self.buf.set_len(n) };
            if parse_messages(&self.buf, reply, seq, each)? {
                return Ok(());
            }
        }
    }
}

/// Sends a `kind` dump request whose body is `request` (the family's header struct, e.g.
/// ndmsg or ifinfomsg) and calls `each` with the body of every `reply` message.
pub(crate) fn dump(
    kind: u16,
    request: &[u8],
    reply: u16,
    each: impl FnMut(&[u8]),
) -> io::Result<()> {
    dump_on(libc::NETLINK_ROUTE, kind, request, reply, each)
}

/// [`dump`] over a netlink `protocol` other than rtnetlink (`NETLINK_SOCK_DIAG`).
pub(crate) fn dump_on(
    protocol: libc::c_int,
    kind: u16,
    request: &[u8],
    reply: u16,
    mut each: impl FnMut(&[u8]),
) -> io::Result<()> {
    let i = usize::from(protocol != libc::NETLINK_ROUTE);
    let kept = KEPT.lock().ok().and_then(|mut k| k[i].take());
    let mut socket = match kept {
        Some(s) => s,
        None => Socket::open(protocol)?,
    };
    let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
    let result = socket.dump(seq, kind, request, reply, &mut each);
    if result.is_ok()
        && let Ok(mut k) = KEPT.lock()
    {
        k[i] = Some(socket);
    }
    result
}

/// A non-blocking netlink socket of `protocol` bound to the multicast `groups`, on which the
/// kernel announces changes (links, uevents); read with [`announced`].
pub(crate) fn subscribe(protocol: libc::c_int, groups: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked and owned below.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            protocol,
        )
    })?;
    // SAFETY: fd is a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain data; zero is a valid value for every field.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = groups;
    // SAFETY: addr is a sockaddr_nl of the size given.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// Whether anything came on a [`subscribe`]d socket since the last call (or it failed:
/// ENOBUFS says announcements were lost), draining it. The queue is bounded by the socket's
/// buffer; so is this loop.
pub(crate) fn announced(fd: &OwnedFd) -> bool {
    let mut byte = [0u8; 1];
    let mut any = false;
    for _ in 0..4096 {
        // SAFETY: one writable byte; MSG_TRUNC drops the rest of the datagram.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                byte.as_mut_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n >= 0 {
            any = true;
            continue;
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EAGAIN) => return any,
            Some(libc::EINTR) => {}
            _ => any = true,
        }
    }
    true
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("netlink: {what}"))
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Hands the `reply` messages of request `seq` in one datagram to `each` (messages of another
/// request are skipped); true at its NLMSG_DONE.
pub(crate) fn parse_messages(
    b: &[u8],
    reply: u16,
    seq: u32,
    each: &mut impl FnMut(&[u8]),
) -> io::Result<bool> {
    let mut off = 0;
    while off + HDR <= b.len() {
        let len = u32_at(b, off) as usize;
        if len < HDR || off + len > b.len() {
            return Err(invalid("truncated message"));
        }
        let kind = u16_at(b, off + 4);
        let body = &b[off + HDR..off + len];
        if u32_at(b, off + 8) != seq {
            off += align(len);
            continue;
        }
        match libc::c_int::from(kind) {
            libc::NLMSG_DONE => return Ok(true),
            libc::NLMSG_ERROR => {
                return match body
                    .get(..4)
                    .map(|e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]))
                {
                    Some(0) => Ok(true),
                    Some(e) => Err(io::Error::from_raw_os_error(-e)),
                    None => Err(invalid("short NLMSG_ERROR")),
                };
            }
            _ if kind == reply => each(body),
            _ => {}
        }
        off += align(len);
    }
    Ok(false)
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// The route attributes (`struct rtattr`: length, type, value) in `b`, as (type, value).
/// A malformed one ends the list.
pub(crate) fn attributes(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut off = 0;
    std::iter::from_fn(move || {
        if off + 4 > b.len() {
            return None;
        }
        let len = usize::from(u16_at(b, off));
        if len < 4 || off + len > b.len() {
            return None;
        }
        let item = (u16_at(b, off + 2), &b[off + 4..off + len]);
        off += align(len);
        Some(item)
    })
}

/// The name of interface `index`; `if<index>` if it went away since the dump.
/// The index and name of the link an RTM_NEWLINK `body` describes (name lossy UTF-8).
pub(crate) fn link_name(body: &[u8]) -> Option<(u32, String)> {
    const IFINFOMSG: usize = 16;
    const IFLA_IFNAME: u16 = 3;
    let index = u32_at(body.get(..IFINFOMSG)?, 4);
    let (_, name) = attributes(&body[IFINFOMSG..]).find(|(kind, _)| *kind == IFLA_IFNAME)?;
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    Some((index, String::from_utf8_lossy(name).into_owned()))
}

pub(crate) fn interface_name(index: u32) -> String {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf holds IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return format!("if{index}");
    }
    // SAFETY: on success buf holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    name.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message of `kind` with `body`.
    pub(crate) fn message(kind: u16, body: &[u8]) -> Vec<u8> {
        let len = HDR + body.len();
        let mut m = vec![0u8; align(len)];
        m[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
        m[4..6].copy_from_slice(&kind.to_ne_bytes());
        m[HDR..len].copy_from_slice(body);
        m
    }

    #[test]
    fn messages_attributes_and_errors() {
        let mut b = message(28, b"abc");
        b.extend(message(29, b"zz"));
        b.extend(message(28, b"d"));
        let mut seen = Vec::new();
        assert!(!parse_messages(&b, 28, 0, &mut |m: &[u8]| seen.push(m.to_vec())).unwrap());
        assert_eq!(seen, [b"abc".to_vec(), b"d".to_vec()]);
        let done = message(libc::NLMSG_DONE as u16, &[]);
        assert!(parse_messages(&done, 28, 0, &mut |_: &[u8]| {}).unwrap());
        let err = message(libc::NLMSG_ERROR as u16, &(-libc::EPERM).to_ne_bytes());
        assert_eq!(
            parse_messages(&err, 28, 0, &mut |_: &[u8]| {})
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EPERM)
        );
        assert_eq!(
            parse_messages(&b[..18], 28, 0, &mut |_: &[u8]| {})
                .unwrap_err()
                .to_string(),
            "netlink: truncated message"
        );

        // A late reply to an earlier request (sequence 7), then this one's (8).
        let with_seq = |kind: u16, body: &[u8], seq: u32| {
            let mut m = message(kind, body);
            m[8..12].copy_from_slice(&seq.to_ne_bytes());
            m
        };
        let mut b = with_seq(28, b"old", 7);
        b.extend(with_seq(libc::NLMSG_DONE as u16, &[], 7));
        b.extend(with_seq(28, b"new", 8));
        let mut seen = Vec::new();
        assert!(!parse_messages(&b, 28, 8, &mut |m: &[u8]| seen.push(m.to_vec())).unwrap());
        assert_eq!(seen, [b"new".to_vec()]);

        // Two attributes, the first padded to 4 bytes, then a malformed length.
        let mut a = vec![7, 0, 3, 0, b'l', b'o', 0, 0];
        a.extend([6, 0, 9, 0, 1, 2, 0, 0]);
        a.extend([2, 0]);
        let attrs: Vec<_> = attributes(&a).collect();
        assert_eq!(attrs, [(3, &b"lo\0"[..]), (9, &[1, 2][..])]);
    }

    /// The kept socket answers one dump after another.
    #[test]
    fn dumps_in_a_row_reuse_the_socket_and_see_their_own_replies() {
        let names = || {
            let mut n = Vec::new();
            let request = [0u8; 16];
            dump(libc::RTM_GETLINK, &request, libc::RTM_NEWLINK, |body| {
                n.push(body.len())
            })
            .unwrap();
            n.len()
        };
        for _ in 0..4 {
            assert!(names() >= 1, "no link, not even lo");
        }
        assert!(KEPT.lock().unwrap()[0].is_some());
    }
}
