//! Credential checks for HTTP endpoints: bearer tokens and basic auth, compared in constant time,
//! with one JSON 401 answer that says what was wrong and never echoes what was sent.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::Secret;

/// Constant-time equality of two byte strings (the length is not hidden; the content is).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Why a request was refused. The text is safe to show: it never contains the credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing Authorization header")]
    Missing,
    #[error("Authorization header is not {0}")]
    WrongScheme(&'static str),
    #[error("invalid credentials")]
    Invalid,
    #[error("invalid token: {0}")]
    BadToken(String),
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": "unauthorized", "reason": self.to_string() });
        let challenge = match self {
            AuthError::WrongScheme("Basic") => "Basic realm=\"vpsmon\"",
            _ => "Bearer realm=\"vpsmon\"",
        };
        (
            StatusCode::UNAUTHORIZED,
            [
                (header::WWW_AUTHENTICATE, challenge),
                (header::CONTENT_TYPE, "application/json"),
            ],
            body.to_string(),
        )
            .into_response()
    }
}

/// The token from `Authorization: Bearer <token>`.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Invalid)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
        _ => Err(AuthError::WrongScheme("Bearer")),
    }
}

/// Checks `Authorization: Bearer <token>` against the expected secret. An empty expected secret
/// (its file was deleted or emptied: [`crate::SecretFile::current`]) matches nothing.
pub fn check_bearer(headers: &HeaderMap, expected: &Secret) -> Result<(), AuthError> {
    let token = bearer_token(headers)?;
    if !expected.is_empty() && ct_eq(token.as_bytes(), expected.expose().as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::Invalid)
    }
}

/// Checks `Authorization: Basic base64(user:password)`.
pub fn check_basic(headers: &HeaderMap, user: &str, password: &Secret) -> Result<(), AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Invalid)?;
    let encoded = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => rest.trim(),
        _ => return Err(AuthError::WrongScheme("Basic")),
    };
    let decoded = base64_decode(encoded).ok_or(AuthError::Invalid)?;
    let (u, p) = match decoded.iter().position(|&b| b == b':') {
        Some(i) => (&decoded[..i], &decoded[i + 1..]),
        None => return Err(AuthError::Invalid),
    };
    // Evaluate both comparisons so timing does not tell which half was wrong.
    let user_ok = ct_eq(u, user.as_bytes());
    let pass_ok = ct_eq(p, password.expose().as_bytes());
    if user_ok & pass_ok & !password.is_empty() {
        Ok(())
    } else {
        Err(AuthError::Invalid)
    }
}

/// Standard base64 with padding (RFC 4648), as HTTP basic auth uses it.
fn base64_decode(input: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = input.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        out.push((acc >> 16) as u8);
        if chunk.len() > 2 {
            out.push((acc >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(acc as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn bearer_matrix() {
        let secret = Secret::new("s3cret");
        assert_eq!(
            check_bearer(&HeaderMap::new(), &secret),
            Err(AuthError::Missing)
        );
        assert_eq!(
            check_bearer(&headers("Basic abc"), &secret),
            Err(AuthError::WrongScheme("Bearer"))
        );
        assert_eq!(
            check_bearer(&headers("Bearer nope"), &secret),
            Err(AuthError::Invalid)
        );
        assert_eq!(check_bearer(&headers("Bearer s3cret"), &secret), Ok(()));
        assert_eq!(check_bearer(&headers("bearer s3cret"), &secret), Ok(()));
        // A revoked (empty) secret refuses even an empty token.
        assert_eq!(
            check_bearer(&headers("Bearer "), &Secret::new("")),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn basic_matrix() {
        let secret = Secret::new("pa:ss");
        // "am:pa:ss" -> YW06cGE6c3M=
        assert_eq!(
            check_basic(&headers("Basic YW06cGE6c3M="), "am", &secret),
            Ok(())
        );
        // "am:wrong" -> YW06d3Jvbmc=
        assert_eq!(
            check_basic(&headers("Basic YW06d3Jvbmc="), "am", &secret),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            check_basic(&headers("Basic !!!"), "am", &secret),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn the_401_body_never_echoes_the_credential() {
        let err = check_bearer(&headers("Bearer leaked-value"), &Secret::new("x")).unwrap_err();
        let resp = err.into_response();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(!format!("{resp:?}").contains("leaked-value"));
    }
}
