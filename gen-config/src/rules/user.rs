//! The user's own rule files: `*.yml` / `*.yaml` in `rules.d/` next to the agent list, or in
//! `--rules-dir`. The real `promtool check rules` checks each one, on the user's own path so its
//! messages name their file, before anything is written. Good files are copied to
//! `prometheus/rules.d/` (beside prometheus.yml, so a container that mounts prometheus/ sees
//! them) and named in `rule_files`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::output::{COPY_MARK, Kind, OutFile};

/// Where the copies go, relative to prometheus.yml.
pub const COPY_DIR: &str = "rules.d";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRuleFile {
    /// The file name, kept in the copy.
    pub name: String,
    pub source: PathBuf,
    pub content: String,
}

impl UserRuleFile {
    /// As prometheus.yml's `rule_files` names it.
    pub fn rule_file(&self) -> String {
        format!("{COPY_DIR}/{}", self.name)
    }

    pub fn out_file(&self) -> OutFile {
        let mut content = self.content.clone();
        if !content.is_empty() && !content.ends_with('\n') {
            content.push('\n');
        }
        content.push_str(&format!(
            "{COPY_MARK}{}; edit that file, not this copy.\n",
            self.source.display()
        ));
        OutFile {
            rel: format!("prometheus/{}", self.rule_file()),
            content,
            kind: Kind::PrometheusConfig,
        }
    }
}

/// The checked rule files, and the other files found beside them (said, not silently skipped).
#[derive(Debug, Default)]
pub struct Loaded {
    pub files: Vec<UserRuleFile>,
    pub skipped: Vec<PathBuf>,
}

/// Reads and checks the rule files in `dir`. `explicit`: the directory was given by
/// --rules-dir, so it must exist; the default `rules.d` next to the agent list may be absent.
pub fn load(dir: &Path, explicit: bool, promtool: &Path, out_dir: &Path) -> Result<Loaded, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Loaded::default());
        }
        Err(e) => return Err(format!("--rules-dir {}: {e}", dir.display())),
    };
    if same_dir(dir, &out_dir.join("prometheus").join(COPY_DIR)) {
        return Err(format!(
            "--rules-dir {}: this is where gen-config writes the copies; keep your rule files elsewhere (rules.d next to the agent list)",
            dir.display()
        ));
    }
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Editors' backup and lock files start with a dot.
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    let (paths, skipped): (Vec<PathBuf>, Vec<PathBuf>) = paths.into_iter().partition(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        (name.ends_with(".yml") || name.ends_with(".yaml")) && p.is_file()
    });
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let content = match std::fs::read_to_string(&path) {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("{}: cannot read: {e}", path.display()));
                continue;
            }
        };
        match check(promtool, &path, &content) {
            Ok(()) => files.push(UserRuleFile {
                name: path
                    .file_name()
                    .expect("read_dir entries have names")
                    .to_string_lossy()
                    .into_owned(),
                source: path,
                content,
            }),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(Loaded { files, skipped })
    } else {
        Err(errors.join("\n"))
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `promtool check rules FILE`, its failure turned into `FILE:LINE: reason` lines.
fn check(promtool: &Path, path: &Path, content: &str) -> Result<(), String> {
    let out = Command::new(promtool)
        .args(["check", "rules"])
        .arg(path)
        .output()
        .map_err(|e| {
            format!(
                "{}: cannot check it: running {} failed ({e}); install Debian's `prometheus` package (it has promtool) or pass --promtool",
                path.display(),
                promtool.display()
            )
        })?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Err(promtool_errors(&path.display().to_string(), &text, content))
}

/// promtool says `FILE: 5:15: msg`, `FILE: yaml: line 5: msg`, `FILE: yaml: unmarshal errors:`
/// followed by `  line 6: msg`, or `FILE: group "g", rule 2, "X": msg` with no line at all;
/// each becomes `FILE:LINE: msg` (the rule's line looked up in the file for the last form).
pub fn promtool_errors(file: &str, output: &str, content: &str) -> String {
    let prefix = format!("{file}: ");
    let mut lines: Vec<String> = Vec::new();
    for line in output.lines() {
        let trimmed = line.trim();
        if let Some(rest) = line.strip_prefix(&prefix) {
            if rest == "yaml: unmarshal errors:" {
                continue;
            }
            let rest = rest.strip_prefix("yaml: ").unwrap_or(rest);
            if let Some(l) = rest.strip_prefix("line ")
                && let Some((n, msg)) = l.split_once(": ")
                && n.bytes().all(|b| b.is_ascii_digit())
            {
                lines.push(format!("{file}:{n}: {msg}"));
            } else if let Some((pos, msg)) = rest.split_once(": ")
                && pos.split(':').count() == 2
                && pos
                    .split(':')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            {
                lines.push(format!("{file}:{pos}: {msg}"));
            } else if let Some(n) = rule_line(rest, content) {
                lines.push(format!("{file}:{n}: {rest}"));
            } else {
                lines.push(format!("{file}: {rest}"));
            }
        } else if let Some(l) = trimmed.strip_prefix("line ")
            && let Some((n, msg)) = l.split_once(": ")
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            lines.push(format!("{file}:{n}: {msg}"));
        }
    }
    // promtool repeats some messages (a YAML syntax error is printed twice).
    lines.dedup();
    if lines.is_empty() {
        format!("{file}: promtool check rules failed: {}", output.trim())
    } else {
        lines.join("\n")
    }
}

#[derive(Deserialize)]
struct RawGroups {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
struct RawGroup {
    name: String,
    #[serde(default)]
    rules: Vec<Spanned<serde::de::IgnoredAny>>,
}

/// The line of rule N of group G, for `group "G", rule N, ...` messages.
fn rule_line(msg: &str, content: &str) -> Option<usize> {
    let rest = msg.strip_prefix("group \"")?;
    let (group, rest) = rest.split_once("\", rule ")?;
    let (n, _) = rest.split_once(',')?;
    let n: usize = n.parse().ok()?;
    let raw: RawGroups = serde_saphyr::from_str(content).ok()?;
    let g = raw.groups.iter().find(|g| g.name == group)?;
    let rule = g.rules.get(n.checked_sub(1)?)?;
    Some(rule.referenced.line() as usize).filter(|&l| l > 0)
}

#[cfg(test)]
mod tests {
    use super::promtool_errors;

    #[test]
    fn promtool_messages_become_file_line_reason() {
        let content = "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up == 0\n      - alert: Y\n        expr: up == 0\n        labels:\n          bad-label: x\n";
        let cases = [
            (
                "Checking r.yml\n  FAILED:\nr.yml: 5:15: group \"mine\", rule 1, \"Foo\": could not parse expression\n",
                "r.yml:5:15: group \"mine\", rule 1, \"Foo\": could not parse expression",
            ),
            (
                "  FAILED:\nr.yml: yaml: unmarshal errors:\n  line 6: field bogus not found in type rulefmt.RuleNode\n",
                "r.yml:6: field bogus not found in type rulefmt.RuleNode",
            ),
            (
                "r.yml: yaml: line 5: found unexpected end of stream\nr.yml: yaml: line 5: found unexpected end of stream\n",
                "r.yml:5: found unexpected end of stream",
            ),
            (
                "r.yml: group \"a\", rule 2, \"Y\": invalid label name: bad-label\n",
                "r.yml:6: group \"a\", rule 2, \"Y\": invalid label name: bad-label",
            ),
        ];
        for (output, want) in cases {
            assert_eq!(promtool_errors("r.yml", output, content), want, "{output}");
        }
    }
}
