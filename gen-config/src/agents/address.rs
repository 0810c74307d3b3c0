//! `host:port` as the seed writes it: IPv4, `[IPv6]` or a DNS name, and a port.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Validates `addr` and returns it normalised: DNS names lower-cased, IPv6 in canonical form, so
/// that two spellings of one address count as a duplicate.
pub fn normalize_address(addr: &str) -> Result<String, String> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("address \"{addr}\": missing ']' after the IPv6 address"))?;
        let ip: Ipv6Addr = v6
            .parse()
            .map_err(|_| format!("address \"{addr}\": \"{v6}\" is not a valid IPv6 address"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| format!("address \"{addr}\" has no port: expected [IPV6]:PORT"))?;
        (format!("[{ip}]"), port)
    } else {
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("address \"{addr}\" has no port: expected HOST:PORT"))?;
        if host.contains(':') {
            return Err(format!(
                "address \"{addr}\": write an IPv6 address in brackets, like [2001:db8::1]:9100"
            ));
        }
        (check_host(addr, host)?, port)
    };
    let port_ok = !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
    if !port_ok {
        return Err(format!(
            "bad port \"{port}\" in address \"{addr}\": expected a number from 1 to 65535"
        ));
    }
    Ok(format!("{host}:{}", port.trim_start_matches('0')))
}

fn check_host(addr: &str, host: &str) -> Result<String, String> {
    let invalid =
        || format!("address \"{addr}\": \"{host}\" is not a valid IPv4 address or DNS name");
    if host.is_empty() || host.len() > 253 {
        return Err(invalid());
    }
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    // Something that looks like an IPv4 address must be one (catches 10.0.0.256).
    if labels
        .iter()
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return host
            .parse::<Ipv4Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| format!("address \"{addr}\": \"{host}\" is not a valid IPv4 address"));
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if labels.iter().all(label_ok) {
        Ok(host.to_ascii_lowercase())
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_host_kinds() {
        assert_eq!(normalize_address("10.0.0.1:9100").unwrap(), "10.0.0.1:9100");
        assert_eq!(
            normalize_address("[2001:DB8:0::1]:9100").unwrap(),
            "[2001:db8::1]:9100"
        );
        assert_eq!(normalize_address("[::1]:9100").unwrap(), "[::1]:9100");
        assert_eq!(
            normalize_address("Web-1.Example.COM:443").unwrap(),
            "web-1.example.com:443"
        );
        assert_eq!(
            normalize_address("localhost:09100").unwrap(),
            "localhost:9100"
        );
    }

    #[test]
    fn explains_bad_addresses() {
        let cases = [
            (
                "10.0.0.1",
                "address \"10.0.0.1\" has no port: expected HOST:PORT",
            ),
            (
                "10.0.0.1:0",
                "bad port \"0\" in address \"10.0.0.1:0\": expected a number from 1 to 65535",
            ),
            (
                "10.0.0.1:65536",
                "bad port \"65536\" in address \"10.0.0.1:65536\": expected a number from 1 to 65535",
            ),
            (
                "10.0.0.1:",
                "bad port \"\" in address \"10.0.0.1:\": expected a number from 1 to 65535",
            ),
            (
                "10.0.0.1:http",
                "bad port \"http\" in address \"10.0.0.1:http\": expected a number from 1 to 65535",
            ),
            (
                "10.0.0.256:9100",
                "address \"10.0.0.256:9100\": \"10.0.0.256\" is not a valid IPv4 address",
            ),
            (
                "2001:db8::1:9100",
                "address \"2001:db8::1:9100\": write an IPv6 address in brackets, like [2001:db8::1]:9100",
            ),
            (
                "[2001:db8::g]:9100",
                "address \"[2001:db8::g]:9100\": \"2001:db8::g\" is not a valid IPv6 address",
            ),
            (
                "[::1]",
                "address \"[::1]\" has no port: expected [IPV6]:PORT",
            ),
            (
                "bad_host!:9100",
                "address \"bad_host!:9100\": \"bad_host!\" is not a valid IPv4 address or DNS name",
            ),
            (
                ":9100",
                "address \":9100\": \"\" is not a valid IPv4 address or DNS name",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_address(input).unwrap_err(), want, "{input}");
        }
    }
}
