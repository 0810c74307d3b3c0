//! The gateway check (`--collector.tunnel.gateway`): is this host's own network up? A tunnel
//! reported down while our gateway does not answer is more likely our outage than the tunnel's,
//! and starting a backup then helps nobody.
//!
//! First an unprivileged ICMP echo (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`, allowed when
//! the process' group is in `net.ipv4.ping_group_range`); if that is not permitted or gets no
//! reply (many routers drop ping), a TCP connect to the port: an accepted *or refused*
//! connection both prove the gateway answered.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// The default port of the TCP fallback.
pub const DEFAULT_PORT: u16 = 80;

/// Where to probe: `HOST` or `HOST:PORT` (`[V6]:PORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub addr: SocketAddr,
    /// As given on the command line: the `gateway` label.
    pub label: String,
}

impl Gateway {
    pub fn parse(s: &str) -> Result<Gateway, String> {
        let addr = if let Ok(ip) = s.parse::<IpAddr>() {
            SocketAddr::new(ip, DEFAULT_PORT)
        } else {
            s.parse::<SocketAddr>().map_err(|_| {
                format!(
                    "{s:?} is not an IP address or IP:PORT (e.g. 192.168.1.1 or 192.168.1.1:53)"
                )
            })?
        };
        Ok(Gateway {
            addr,
            label: s.to_owned(),
        })
    }
}

/// How the gateway answered, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Icmp,
    Tcp,
    None,
}

/// Probes the gateway; waits at most about twice `timeout`.
pub async fn probe(gw: &Gateway, timeout: Duration) -> Answer {
    let ip = gw.addr.ip();
    let icmp = tokio::task::spawn_blocking(move || icmp_echo(ip, timeout))
        .await
        .unwrap_or(Err(std::io::Error::other("ping task failed")));
    if let Ok(true) = icmp {
        return Answer::Icmp;
    }
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(gw.addr)).await {
        Ok(Ok(_)) => Answer::Tcp,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Answer::Tcp,
        _ => Answer::None,
    }
}

/// One ICMP echo over a ping socket. `Ok(false)`: no reply in time; `Err`: not permitted here.
fn icmp_echo(ip: IpAddr, timeout: Duration) -> std::io::Result<bool> {
    let (domain, proto, request, reply) = match ip {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8u8, 0u8),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128u8, 129u8),
    };
    let socket = Socket::new(domain, Type::DGRAM, Some(proto))?;
    socket.set_read_timeout(Some(timeout))?;
    // type, code, checksum (the kernel fills it and the identifier in for ping sockets), id, seq.
    let mut packet = [request, 0, 0, 0, 0, 0, 0, 1, b'v', b'p', b's', b'm'];
    if ip.is_ipv4() {
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    socket.send_to(&packet, &SocketAddr::new(ip, 0).into())?;
    let deadline = std::time::Instant::now() + timeout;
    let mut buf = [0u8; 128];
    while std::time::Instant::now() < deadline {
        // The kernel hands a ping socket only the replies to its own identifier.
        match std::io::Read::read(&mut &socket, &mut buf) {
            Ok(n) if n >= 8 && buf[0] == reply => return Ok(true),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_and_host_port() {
        assert_eq!(
            Gateway::parse("192.168.1.1").unwrap().addr.to_string(),
            "192.168.1.1:80"
        );
        assert_eq!(
            Gateway::parse("10.0.0.1:53").unwrap().addr.to_string(),
            "10.0.0.1:53"
        );
        assert_eq!(Gateway::parse("[fe80::1]:22").unwrap().addr.port(), 22);
        assert_eq!(Gateway::parse("fe80::1").unwrap().addr.port(), 80);
        assert_eq!(
            Gateway::parse("router.lan").unwrap_err(),
            "\"router.lan\" is not an IP address or IP:PORT (e.g. 192.168.1.1 or 192.168.1.1:53)"
        );
    }

    #[test]
    fn checksum_is_rfc1071() {
        // An echo request with id 0, seq 1 and no payload: 0x0800 + 0x0001 -> !0x0801.
        assert_eq!(checksum(&[8, 0, 0, 0, 0, 0, 0, 1]), !0x0801);
    }

    #[tokio::test]
    async fn a_listening_or_refusing_port_is_up_and_a_silent_address_is_down() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gw = Gateway::parse(&listener.local_addr().unwrap().to_string()).unwrap();
        assert_ne!(probe(&gw, Duration::from_secs(5)).await, Answer::None);
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        // Refused: the host answered with a reset.
        let gw = Gateway::parse(&format!("127.0.0.1:{port}")).unwrap();
        assert_ne!(probe(&gw, Duration::from_secs(5)).await, Answer::None);
        // The IPv6 discard prefix (RFC 6666) is never routed: unreachable or silent, either way
        // down. (Not TEST-NET-1: sandboxes with a transparent proxy refuse it, i.e. "answer".)
        let gw = Gateway::parse("[100::1]:9").unwrap();
        assert_eq!(probe(&gw, Duration::from_millis(500)).await, Answer::None);
    }
}
