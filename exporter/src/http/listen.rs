//! `--web.listen-address` in the forms node_exporter takes (Go's `net.Listen("tcp", ...)`):
//! `127.0.0.1:9100`, `[::1]:9100`, `localhost:9100` (a host name, resolved at start, its first
//! IPv4 address preferred as Go does) and `:9100` (every interface). `:9100` and `[::]:9100`
//! listen on IPv6 and IPv4 together, as Go does; `:9100` falls back to IPv4 alone on a kernel
//! without IPv6.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use socket2::{Domain, Protocol, Socket, Type};

/// What `--web.listen-address` names, before it is resolved and bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// `:PORT`: every interface.
    All(u16),
    /// An address literal: `127.0.0.1:9100`, `[::1]:9100`, `[::]:9100`.
    Ip(SocketAddr),
    /// `localhost:9100`, `vpn.example:9100`: resolved when the exporter starts.
    Host(String, u16),
}

const FORMS: &str = "expected HOST:PORT, e.g. 127.0.0.1:9100, :9100, localhost:9100 or [::1]:9100";

impl FromStr for ListenAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<ListenAddress, String> {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(ListenAddress::Ip(addr));
        }
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(FORMS.into());
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("port {port:?} is not a number from 0 to 65535 ({FORMS})"))?;
        if host.is_empty() {
            return Ok(ListenAddress::All(port));
        }
        if host.starts_with('[') {
            return Err(format!("{host:?} is not an IPv6 address ({FORMS})"));
        }
        if host.contains(':') {
            return Err(format!(
                "an IPv6 address needs brackets: [{host}]:{port} ({FORMS})"
            ));
        }
        let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        if !host.chars().all(name_char) {
            return Err(format!("{host:?} is not a host name ({FORMS})"));
        }
        Ok(ListenAddress::Host(host.to_owned(), port))
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::All(port) => write!(f, ":{port}"),
            ListenAddress::Ip(addr) => write!(f, "{addr}"),
            ListenAddress::Host(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

/// Why the listener could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The host name does not resolve: the flag is the user's to fix.
    #[error("--web.listen-address: cannot resolve {host:?}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl ListenAddress {
    /// Opens the listening socket (non-blocking, for tokio).
    pub fn bind(&self) -> Result<std::net::TcpListener, ListenError> {
        match self {
            ListenAddress::All(port) => {
                let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), *port);
                match bind(any6) {
                    // A kernel booted with ipv6.disable=1 has no IPv6 sockets at all.
                    Err(ListenError::Bind { source, .. })
                        if source.raw_os_error() == Some(libc::EAFNOSUPPORT) =>
                    {
                        bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), *port))
                    }
                    result => result,
                }
            }
            ListenAddress::Ip(addr) => bind(*addr),
            ListenAddress::Host(host, port) => bind(resolve(host, *port)?),
        }
    }
}

/// The host's first IPv4 address, else its first address: what Go listens on for a name.
fn resolve(host: &str, port: u16) -> Result<SocketAddr, ListenError> {
    let error = |reason: String| ListenError::Resolve {
        host: host.to_owned(),
        reason,
    };
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| error(e.to_string()))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| error("no address".into()))
}

/// Binds like tokio's `TcpListener::bind` (SO_REUSEADDR, backlog 1024), with the unspecified
/// IPv6 address taking IPv4 connections too whatever `net.ipv6.bindv6only` says.
fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, ListenError> {
    let open = || -> std::io::Result<std::net::TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if let SocketAddr::V6(v6) = addr
            && v6.ip().is_unspecified()
        {
            socket.set_only_v6(false)?;
        }
        socket.set_reuse_address(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(1024)?;
        Ok(socket.into())
    };
    open().map_err(|source| ListenError::Bind { addr, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ListenAddress, String> {
        s.parse()
    }

    #[test]
    fn node_exporters_forms_parse() {
        assert_eq!(parse(":9100"), Ok(ListenAddress::All(9100)));
        assert_eq!(
            parse("127.0.0.1:9100"),
            Ok(ListenAddress::Ip("127.0.0.1:9100".parse().unwrap()))
        );
        assert_eq!(
            parse("[::]:9100"),
            Ok(ListenAddress::Ip("[::]:9100".parse().unwrap()))
        );
        assert_eq!(
            parse("localhost:9100"),
            Ok(ListenAddress::Host("localhost".into(), 9100))
        );
        assert_eq!(
            parse("wg0-peer.example:9100"),
            Ok(ListenAddress::Host("wg0-peer.example".into(), 9100))
        );
        for s in [":9100", "127.0.0.1:9100", "[::1]:9100", "localhost:9100"] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn bad_forms_say_what_is_expected() {
        assert_eq!(parse("nowhere").unwrap_err(), FORMS);
        assert_eq!(
            parse(":http").unwrap_err(),
            format!("port \"http\" is not a number from 0 to 65535 ({FORMS})")
        );
        assert_eq!(
            parse("::1:9100").unwrap_err(),
            format!("an IPv6 address needs brackets: [::1]:9100 ({FORMS})")
        );
        assert_eq!(
            parse("[::g]:9100").unwrap_err(),
            format!("\"[::g]\" is not an IPv6 address ({FORMS})")
        );
        assert_eq!(
            parse("a b:9100").unwrap_err(),
            format!("\"a b\" is not a host name ({FORMS})")
        );
    }

    #[test]
    fn localhost_resolves_to_ipv4_loopback_first() {
        let l = parse("localhost:0").unwrap().bind().unwrap();
        assert_eq!(
            l.local_addr().unwrap().ip(),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }
}
