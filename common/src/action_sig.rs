//! The signature on an action request (`POST /api/actions/{name}` on an exporter), kept once
//! because the exporter checks what the bot signs. HMAC-SHA256, keyed by the agent's action key,
//! over the canonical string
//!
//! ```text
//! vpsmon-action-v1\n<METHOD>\n<PATH>\n<TIMESTAMP>\n<NONCE>\n<hex SHA-256 of the body>
//! ```
//!
//! sent as lowercase hex in [`SIGNATURE_HEADER`], with the Unix time in seconds in
//! [`TIMESTAMP_HEADER`] and a fresh random nonce in [`NONCE_HEADER`]. The body goes in as its
//! hash, so no byte of it can be moved into another field.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const SIGNATURE_HEADER: &str = "x-vpsmon-signature";
pub const TIMESTAMP_HEADER: &str = "x-vpsmon-timestamp";
pub const NONCE_HEADER: &str = "x-vpsmon-nonce";
/// How far a request's timestamp may be from the agent's clock, either way.
pub const MAX_SKEW_SECS: i64 = 30;

/// The string the signature covers.
pub fn canonical(method: &str, path: &str, timestamp: &str, nonce: &str, body: &[u8]) -> String {
    format!(
        "vpsmon-action-v1\n{method}\n{path}\n{timestamp}\n{nonce}\n{}",
        hex(&Sha256::digest(body))
    )
}

fn mac(key: &[u8], canonical: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(canonical.as_bytes());
    mac
}

/// The signature header's value for a request.
pub fn sign(
    key: &[u8],
    method: &str,
    path: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    hex(&mac(key, &canonical(method, path, timestamp, nonce, body))
        .finalize()
        .into_bytes())
}

/// Whether `signature` (the header's hex) is right, compared in constant time.
pub fn verify(
    key: &[u8],
    signature: &str,
    method: &str,
    path: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> bool {
    let Some(given) = unhex(signature) else {
        return false;
    };
    mac(key, &canonical(method, path, timestamp, nonce, body))
        .verify_slice(&given)
        .is_ok()
}

/// An agent's action URL as the bot uses it: `http(s)://host:port` with no path, query or
/// user-info (the signed path is appended to it), one trailing `/` dropped; `None` otherwise.
/// gen-config writes it and the receiver reads it, so both check it here.
pub fn base_url(url: &str) -> Option<&str> {
    let url = url.strip_suffix('/').unwrap_or(url);
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    (!host.is_empty() && !host.contains(['/', '?', '#', '@'])).then_some(url)
}

/// A fresh nonce: 16 bytes from the kernel's CSPRNG, as 32 hex digits (the agent accepts 16 to
/// 64 of `A-Z a-z 0-9 - _`).
pub fn nonce() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex(&bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_what_it_covers() {
        let key = b"k".repeat(32);
        let sig = sign(&key, "POST", "/api/actions/df", "1700000000", "n1", b"{}");
        assert_eq!(sig.len(), 64);
        let as_signed = |key: &[u8], sig: &str| {
            verify(
                key,
                sig,
                "POST",
                "/api/actions/df",
                "1700000000",
                "n1",
                b"{}",
            )
        };
        assert!(as_signed(&key, &sig));
        for (m, p, t, n, b) in [
            ("GET", "/api/actions/df", "1700000000", "n1", &b"{}"[..]),
            ("POST", "/api/actions/du", "1700000000", "n1", b"{}"),
            ("POST", "/api/actions/df", "1700000001", "n1", b"{}"),
            ("POST", "/api/actions/df", "1700000000", "n2", b"{}"),
            ("POST", "/api/actions/df", "1700000000", "n1", b"{ }"),
        ] {
            assert!(!verify(&key, &sig, m, p, t, n, b), "{m} {p} {t} {n}");
        }
        assert!(!as_signed(b"other", &sig));
        assert!(!as_signed(&key, "zz"));
    }

    #[test]
    fn a_base_url_is_scheme_host_and_port_only() {
        assert_eq!(
            base_url("http://10.0.0.5:9100/"),
            Some("http://10.0.0.5:9100")
        );
        assert_eq!(
            base_url("https://a.example:443"),
            Some("https://a.example:443")
        );
        for bad in [
            "10.0.0.5:9100",
            "ftp://a:1",
            "http://",
            "http://a:1/x",
            "http://u:p@a:1",
        ] {
            assert_eq!(base_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_canonical_string_is_the_documented_one() {
        assert_eq!(
            canonical("POST", "/api/actions/df", "1700000000", "abc", b""),
            "vpsmon-action-v1\nPOST\n/api/actions/df\n1700000000\nabc\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
