//! The tunnel list (`--collector.tunnel.config`): a YAML file, unknown keys refused.
//!
//! ```yaml
//! tunnels:
//!   - account_id: 0123456789abcdef0123456789abcdef
//!     tunnel_id: c1744f8b-faa1-48a4-9e5c-02ac921467fa
//!     api_token_file: /etc/vpsmon/cloudflare-token
//!     name: web            # optional; else the name Cloudflare reports
//!     failover_unit: cloudflared-backup.service   # optional; see --failover.enabled
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;
use vpsmon_common::SecretFile;

/// One tunnel to watch.
#[derive(Debug, Clone)]
pub struct TunnelConfig {
    pub account_id: String,
    pub tunnel_id: String,
    /// The API token (Account › Cloudflare Tunnel › Read), re-read when the file changes.
    pub token: SecretFile,
    pub name: Option<String>,
    pub failover_unit: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    tunnels: Vec<Spanned<RawTunnel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTunnel {
    account_id: String,
    tunnel_id: String,
    api_token_file: PathBuf,
    name: Option<String>,
    failover_unit: Option<String>,
}

/// A tunnel file that cannot be used; the message names the file and, when known, the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {reason}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct TunnelConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub reason: String,
}

/// An identifier Cloudflare uses in a URL path: hex digits and dashes only, so nothing a file
/// says can change which endpoint is called.
fn check_id(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(format!(
            "{what} {s:?} is not a Cloudflare id (hex digits and '-')"
        ));
    }
    Ok(())
}

/// A systemd unit name as systemctl takes it (no option-like or path-like names).
fn check_unit(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c));
    if !ok {
        return Err(format!("failover_unit {s:?} is not a systemd unit name"));
    }
    Ok(())
}

/// Reads and checks the tunnel file. Token files are opened (and so checked) here.
pub fn load(path: &Path) -> Result<Vec<TunnelConfig>, TunnelConfigError> {
    let err = |line: Option<usize>, reason: String| TunnelConfigError {
        file: path.to_owned(),
        line,
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(None, e.to_string()))?;
    let raw: RawFile = serde_saphyr::from_str(&text).map_err(|e| {
        let message = e.without_snippet().to_string();
        let reason = match message.rfind(" at line ") {
            Some(i) if e.location().is_some() => message[..i].to_owned(),
            _ => message,
        };
        err(
            e.location().map(|l| l.line() as usize).filter(|&l| l > 0),
            reason,
        )
    })?;
    if raw.tunnels.is_empty() {
        return Err(err(None, "no tunnels listed".into()));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.tunnels.len());
    for t in raw.tunnels {
        let line = Some(t.referenced.line() as usize);
        let t = t.value;
        check_id("account_id", &t.account_id).map_err(|r| err(line, r))?;
        check_id("tunnel_id", &t.tunnel_id).map_err(|r| err(line, r))?;
        if !seen.insert(t.tunnel_id.clone()) {
            return Err(err(
                line,
                format!("tunnel_id {:?} is listed twice", t.tunnel_id),
            ));
        }
        if let Some(u) = &t.failover_unit {
            check_unit(u).map_err(|r| err(line, r))?;
        }
        let token = SecretFile::open(&t.api_token_file)
            .map_err(|e| err(line, format!("api_token_file: {e}")))?;
        out.push(TunnelConfig {
            account_id: t.account_id,
            tunnel_id: t.tunnel_id,
            token,
            name: t.name,
            failover_unit: t.failover_unit,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(
        text: &str,
    ) -> (
        tempfile::TempDir,
        Result<Vec<TunnelConfig>, TunnelConfigError>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "cf-token-123\n").unwrap();
        let path = dir.path().join("tunnels.yml");
        std::fs::write(
            &path,
            text.replace("TOKEN", &dir.path().join("token").display().to_string()),
        )
        .unwrap();
        let r = load(&path);
        (dir, r)
    }

    #[test]
    fn loads_tunnels_with_optional_fields() {
        let (_d, r) = load_text(
            "tunnels:\n  - account_id: 0123abcd\n    tunnel_id: c1744f8b-faa1\n    api_token_file: TOKEN\n  - account_id: 0123abcd\n    tunnel_id: d2\n    api_token_file: TOKEN\n    name: web\n    failover_unit: cloudflared-backup.service\n",
        );
        let t = r.unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].tunnel_id, "c1744f8b-faa1");
        assert_eq!(t[0].name, None);
        assert_eq!(t[1].name.as_deref(), Some("web"));
        assert_eq!(
            t[1].failover_unit.as_deref(),
            Some("cloudflared-backup.service")
        );
        assert_eq!(t[1].token.current().expose(), "cf-token-123");
    }

    #[test]
    fn bad_files_name_file_and_line() {
        for (text, want) in [
            (
                "tunnels:\n  - account_id: ab\n    tunnel_id: cd\n    api_token_file: TOKEN\n    token: oops\n",
                ":5: unknown field `token`",
            ),
            (
                "tunnels:\n  - account_id: ab\n    api_token_file: TOKEN\n",
                ":3: missing field `tunnel_id`",
            ),
            (
                "tunnels:\n  - account_id: ab\n    tunnel_id: cd\n    api_token_file: TOKEN\n  - account_id: ab\n    tunnel_id: ../../x\n    api_token_file: TOKEN\n",
                ":5: tunnel_id \"../../x\" is not a Cloudflare id (hex digits and '-')",
            ),
            (
                "tunnels:\n  - account_id: ab\n    tunnel_id: cd\n    api_token_file: TOKEN\n  - account_id: ab\n    tunnel_id: cd\n    api_token_file: TOKEN\n",
                ":5: tunnel_id \"cd\" is listed twice",
            ),
            (
                "tunnels:\n  - account_id: ab\n    tunnel_id: cd\n    api_token_file: TOKEN\n    failover_unit: --now\n",
                ":2: failover_unit \"--now\" is not a systemd unit name",
            ),
            ("tunnels: []\n", ": no tunnels listed"),
        ] {
            let (dir, r) = load_text(text);
            let got = r.unwrap_err().to_string();
            let file = dir.path().join("tunnels.yml").display().to_string();
            assert!(got.starts_with(&file), "{got}");
            assert!(got[file.len()..].starts_with(want), "{text:?}: {got}");
        }
        let (dir, r) = load_text(
            "tunnels:\n  - account_id: ab\n    tunnel_id: cd\n    api_token_file: /nonexistent/token\n",
        );
        assert_eq!(
            r.unwrap_err().to_string(),
            format!(
                "{}:2: api_token_file: {}",
                dir.path().join("tunnels.yml").display(),
                SecretFile::open("/nonexistent/token").unwrap_err()
            )
        );
    }
}
