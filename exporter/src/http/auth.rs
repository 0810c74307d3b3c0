//! Who may read /metrics and /api/health: a static bearer token (compared in constant time, its
//! file re-read when it changes) and/or an HS256 JWT as the seeds' Cloudflare Workers send it.
//! With both configured, either credential is accepted. Deleting or emptying a secret file
//! revokes it: every request is refused until the file is back (see [`SecretFile`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use vpsmon_common::auth::{AuthError, bearer_token, ct_eq};
use vpsmon_common::{SecretError, SecretFile};

/// A secret file the exporter cannot start with; names the flag and the file, never the content.
#[derive(Debug, thiserror::Error)]
#[error("{flag}: {source}")]
pub struct AuthConfigError {
    pub flag: &'static str,
    #[source]
    pub source: SecretError,
}

/// HS256 JWT checking. The secret file is re-read on change like the token file.
#[derive(Debug, Clone)]
struct Jwt {
    secret: SecretFile,
    validation: Validation,
}

/// The clock skew allowed on `exp` and `nbf` unless `--web.jwt-leeway` says otherwise: the
/// Workers that mint the tokens and the VPS keep their own clocks.
pub const DEFAULT_JWT_LEEWAY: Duration = Duration::from_secs(60);

/// The configured credentials; `Auth::default()` lets every request through.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    token: Option<SecretFile>,
    jwt: Option<Jwt>,
}

impl Auth {
    /// Loads the secret files now, so that a missing or empty file stops the start-up.
    pub fn from_files(
        token_file: Option<&Path>,
        jwt_secret_file: Option<&Path>,
        audience: Option<&str>,
        issuer: Option<&str>,
    ) -> Result<Auth, AuthConfigError> {
        let open = |flag, path: &Path| {
            SecretFile::open(PathBuf::from(path)).map_err(|source| AuthConfigError { flag, source })
        };
        let token = token_file
            .map(|p| open("--web.auth-token-file", p))
            .transpose()?;
        let jwt = jwt_secret_file
            .map(|p| {
                Ok(Jwt {
                    secret: open("--web.jwt-secret-file", p)?,
                    validation: validation(audience, issuer),
                })
            })
            .transpose()?;
        Ok(Auth { token, jwt })
    }

    /// Sets the clock skew tolerated on `exp` and `nbf` (whole seconds) [default: 60 s].
    pub fn with_jwt_leeway(mut self, leeway: Duration) -> Auth {
        if let Some(jwt) = &mut self.jwt {
            jwt.validation.leeway = leeway.as_secs();
        }
        self
    }

    /// True when requests must carry a credential.
    pub fn is_enabled(&self) -> bool {
        self.token.is_some() || self.jwt.is_some()
    }

    /// What is required, for the start-up log line (never the secrets).
    pub fn describe(&self) -> String {
        match (&self.token, &self.jwt) {
            (None, None) => "none".into(),
            (Some(t), None) => format!("bearer token from {}", t.path().display()),
            (None, Some(j)) => format!("HS256 JWT, secret from {}", j.secret.path().display()),
            (Some(t), Some(j)) => format!(
                "bearer token from {} or HS256 JWT, secret from {}",
                t.path().display(),
                j.secret.path().display()
            ),
        }
    }

    /// Checks the request's `Authorization: Bearer ...` against the token, then as a JWT.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        if !self.is_enabled() {
            return Ok(());
        }
        let presented = bearer_token(headers)?;
        if let Some(token) = &self.token {
            // Empty: the file was deleted or emptied, which revokes the token.
            let expected = token.current();
            if !expected.is_empty() && ct_eq(presented.as_bytes(), expected.expose().as_bytes()) {
                return Ok(());
            }
        }
        match &self.jwt {
            Some(jwt) => {
                let secret = jwt.secret.current();
                // An empty HMAC key would let anyone sign: no secret, no JWT.
                if secret.is_empty() {
                    return Err(AuthError::Invalid);
                }
                // Something that is not a JWT at all was a wrong static token.
                let wrong_token = || self.token.is_some() && presented.matches('.').count() != 2;
                match jsonwebtoken::decode_header(presented) {
                    Ok(header) if header.crit.is_some() => {
                        // RFC 7515 §4.1.11: an extension the recipient does not understand
                        // must make it refuse the token, and this one understands none.
                        return Err(AuthError::BadToken(
                            "the token has a `crit` header, and no critical extension is \
                             supported"
                                .into(),
                        ));
                    }
                    Ok(_) => {}
                    Err(_) if wrong_token() => return Err(AuthError::Invalid),
                    Err(e) => return Err(AuthError::BadToken(jwt_reason(e.kind()))),
                }
                let key = DecodingKey::from_secret(secret.expose().as_bytes());
                match jsonwebtoken::decode::<serde_json::Value>(presented, &key, &jwt.validation) {
                    Ok(_) => Ok(()),
                    Err(_) if wrong_token() => Err(AuthError::Invalid),
                    Err(e) => Err(AuthError::BadToken(jwt_reason(e.kind()))),
                }
            }
            None => Err(AuthError::Invalid),
        }
    }
}

/// HS256 only (so `alg: none` and every other algorithm fail), `exp` required, `nbf` checked
/// when present, and `aud`/`iss` required and checked when configured.
fn validation(audience: Option<&str>, issuer: Option<&str>) -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_nbf = true;
    v.leeway = DEFAULT_JWT_LEEWAY.as_secs();
    let mut required = vec!["exp"];
    if let Some(aud) = audience {
        v.set_audience(&[aud]);
        required.push("aud");
    }
    if let Some(iss) = issuer {
        v.set_issuer(&[iss]);
        required.push("iss");
    }
    v.set_required_spec_claims(&required);
    v
}

/// A reason the client may see: what was wrong with the token, never the token itself.
fn jwt_reason(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "token expired (`exp` is past, beyond the leeway)".into(),
        ErrorKind::InvalidSignature => "signature does not match".into(),
        ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => {
            "algorithm not accepted (only HS256 is)".into()
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("required claim `{claim}` is missing"),
        ErrorKind::InvalidClaimFormat(claim) => format!("claim `{claim}` is malformed"),
        ErrorKind::InvalidAudience => {
            "audience not accepted (an `aud` claim needs a matching --web.jwt-audience)".into()
        }
        ErrorKind::InvalidIssuer => "issuer not accepted".into(),
        ErrorKind::ImmatureSignature => {
            "token not valid yet (`nbf` is in the future, beyond the leeway)".into()
        }
        // An unknown `alg` such as "none" fails while parsing the header.
        ErrorKind::Json(_) | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            "malformed token (expected a JWT signed with HS256)".into()
        }
        _ => "malformed token (expected a JWT signed with HS256)".into(),
    }
}

/// Middleware in front of the protected routes.
pub async fn require(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    match auth.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(err) => {
            tracing::debug!(path = %request.uri().path(), reason = %err, "refused request");
            err.into_response()
        }
    }
}
