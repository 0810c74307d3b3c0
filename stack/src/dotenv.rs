//! The `.env` file the seeds use (`BOT_TOKEN = ...`, `ALERT_CHAT_ID=...`). The local stack reads
//! the same file as docker compose so a user configures Telegram once. Variables already set in
//! the environment win.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum DotenvError {
    // Nothing of the line is shown: a line without `=` is often a pasted token.
    #[error(
        "{path}:{line}: expected KEY=VALUE (KEY: letters, digits, _); the line is not shown, it may hold a secret"
    )]
    Syntax { path: String, line: usize },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Reads `path` if it exists. Returns (key, value) pairs in file order.
pub fn read(path: &Path) -> Result<Vec<(String, String)>, DotenvError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(DotenvError::Read {
                path: path.display().to_string(),
                source,
            });
        }
    };
    parse(&text, &path.display().to_string())
}

/// Parses KEY=VALUE lines. Blank lines and `#` comments are skipped; spaces around `=` (as in
/// seed 002's example) and one pair of surrounding quotes are removed; `export ` is allowed.
pub fn parse(text: &str, name: &str) -> Result<Vec<(String, String)>, DotenvError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let syntax = || DotenvError::Syntax {
            path: name.to_owned(),
            line: i + 1,
        };
        let (key, value) = line.split_once('=').ok_or_else(syntax)?;
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(syntax());
        }
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|q| {
                value
                    .strip_prefix(*q)
                    .and_then(|v| v.strip_suffix(*q))
                    .filter(|_| value.len() >= 2)
            })
            .unwrap_or(value);
        out.push((key.to_owned(), value.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_seed_format_with_spaces_comments_and_quotes() {
        let text = "# Telegram Bot Configuration\nBOT_TOKEN = 123:abc\n\nALERT_CHAT_ID=\"-100\"\nexport ALLOWED_USERS='1,2'\n";
        let vars = parse(text, ".env").unwrap();
        assert_eq!(
            vars,
            vec![
                ("BOT_TOKEN".into(), "123:abc".into()),
                ("ALERT_CHAT_ID".into(), "-100".into()),
                ("ALLOWED_USERS".into(), "1,2".into()),
            ]
        );
    }

    #[test]
    fn a_line_without_equals_names_file_and_line_but_not_the_value() {
        // A token pasted on a line of its own.
        let err = parse("A=1\n\n123456:ABC-secret\n", "/x/.env").unwrap_err();
        let msg = err.to_string();
        assert_eq!(
            msg,
            "/x/.env:3: expected KEY=VALUE (KEY: letters, digits, _); the line is not shown, it may hold a secret"
        );
        for line in ["BOT_TOKEN 123:xyzzy", "BAD KEY=123:xyzzy", "xyzzy"] {
            let err = parse(line, ".env").unwrap_err().to_string();
            assert!(err.starts_with(".env:1: "), "{err}");
            assert!(
                !err.contains("xyzzy") && !err.contains("BOT_TOKEN"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_missing_file_is_no_variables() {
        assert!(read(Path::new("/nonexistent/.env")).unwrap().is_empty());
    }
}
