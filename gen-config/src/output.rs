//! The generated file set: compared with the disk (`--check`), or written atomically.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use similar::TextDiff;

/// What a file is, which decides whether Prometheus must be reloaded after it changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// file_sd targets: Prometheus watches them itself.
    Targets,
    /// prometheus.yml and alert.rules.yml: need POST /-/reload.
    PrometheusConfig,
    /// alertmanager.yml: Alertmanager's own reload.
    Alertmanager,
    /// receiver/action-agents.yml: read by the receiver at its start.
    Receiver,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutFile {
    /// Relative to --out-dir, with `/` separators.
    pub rel: String,
    pub content: String,
    pub kind: Kind,
}

/// What writing did.
#[derive(Debug, Default)]
pub struct WriteReport {
    pub changed: Vec<OutFile>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
}

impl WriteReport {
    pub fn prometheus_needs_reload(&self) -> bool {
        self.changed
            .iter()
            .any(|f| f.kind == Kind::PrometheusConfig)
            || self
                .removed
                .iter()
                .any(|r| !r.starts_with("prometheus/targets/"))
    }
}

fn read_existing(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Files we generated before but would not generate now (a job or shard that went away).
/// Only files that are certainly ours are considered: target files named like our jobs, and
/// Prometheus configs that start with our header. Anything else in the directory is left alone.
pub fn stale_files(out_dir: &Path, files: &[OutFile]) -> io::Result<Vec<String>> {
    let wanted = |rel: &str| files.iter().any(|f| f.rel == rel);
    let mut stale = Vec::new();
    for name in list_dir(&out_dir.join("prometheus/targets"))? {
        let rel = format!("prometheus/targets/{name}");
        if is_job_target_file(&name) && !wanted(&rel) {
            stale.push(rel);
        }
    }
    // Copies of user rule files whose original went away.
    for name in list_dir(&out_dir.join("prometheus/rules.d"))? {
        let rel = format!("prometheus/rules.d/{name}");
        if !wanted(&rel) && is_rule_copy(&out_dir.join(&rel))? {
            stale.push(rel);
        }
    }
    for name in list_dir(&out_dir.join("prometheus"))? {
        let rel = format!("prometheus/{name}");
        let config_name = name == "prometheus.yml"
            || name
                .strip_prefix("prometheus-shard-")
                .and_then(|r| r.strip_suffix(".yml"))
                .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()));
        if config_name && !wanted(&rel) && is_generated(&out_dir.join(&rel))? {
            stale.push(rel);
        }
    }
    // The receiver's actions file, when no agent has an action key any more.
    let rel = crate::render::receiver::PATH;
    if !wanted(rel) && is_generated(&out_dir.join(rel))? {
        stale.push(rel.to_owned());
    }
    stale.sort();
    Ok(stale)
}

fn list_dir(dir: &Path) -> io::Result<Vec<String>> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// `agents.json` or `agents-<scheme>-<8 hex digits>.json`, the names render::targets gives.
fn is_job_target_file(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".json") else {
        return false;
    };
    if stem == "agents" {
        return true;
    }
    let hash = stem
        .strip_prefix("agents-http-")
        .or_else(|| stem.strip_prefix("agents-https-"));
    hash.is_some_and(|h| h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_rule_copy(path: &Path) -> io::Result<bool> {
    Ok(path.is_file() && read_existing(path)?.is_some_and(|t| is_copy(&t)))
}

/// The last line of every copy. At the end, not the top, so a line number in a copy is the
/// line number in the user's file; stale-copy removal only touches files that end with it.
pub const COPY_MARK: &str = "# Copied by vpsmon-gen-config from ";

/// Is this a copy gen-config wrote (and may remove)?
pub fn is_copy(text: &str) -> bool {
    text.lines()
        .last()
        .is_some_and(|l| l.starts_with(COPY_MARK))
}

fn is_generated(path: &Path) -> io::Result<bool> {
    Ok(read_existing(path)?.is_some_and(|t| t.starts_with(crate::render::GENERATED_MARK)))
}

/// Unified diffs of every file that differs from the disk; empty when all are current.
pub fn check(out_dir: &Path, files: &[OutFile]) -> io::Result<String> {
    let mut report = String::new();
    for f in files {
        let path = out_dir.join(&f.rel);
        let existing = read_existing(&path)?;
        if existing.as_deref() == Some(f.content.as_str()) {
            continue;
        }
        let old = existing.as_deref().unwrap_or("");
        let old_name = if existing.is_some() {
            format!("a/{}", f.rel)
        } else {
            format!("a/{} (missing)", f.rel)
        };
        let diff = TextDiff::from_lines(old, f.content.as_str());
        report.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&old_name, &format!("b/{}", f.rel))
                .to_string(),
        );
    }
    for rel in stale_files(out_dir, files)? {
        report.push_str(&format!(
            "{rel}: no longer generated and would be removed\n"
        ));
    }
    Ok(report)
}

/// Writes the files that changed, each atomically (temp file in the same directory, then
/// rename), targets first and prometheus.yml last so it never names a file not yet there.
/// Then removes stale files.
pub fn write(out_dir: &Path, files: &[OutFile]) -> Result<WriteReport, (PathBuf, io::Error)> {
    let mut report = WriteReport::default();
    let order = |f: &OutFile| match f.kind {
        Kind::Targets | Kind::Receiver => 0,
        Kind::Alertmanager => 1,
        Kind::PrometheusConfig
            if f.rel.ends_with(".rules.yml") || f.rel.starts_with("prometheus/rules.d/") =>
        {
            2
        }
        Kind::PrometheusConfig => 3,
    };
    let mut sorted: Vec<&OutFile> = files.iter().collect();
    sorted.sort_by_key(|f| order(f));
    for f in sorted {
        let path = out_dir.join(&f.rel);
        let existing = read_existing(&path).map_err(|e| (path.clone(), e))?;
        if existing.as_deref() == Some(f.content.as_str()) {
            report.unchanged.push(f.rel.clone());
            continue;
        }
        write_atomic(&path, f.content.as_bytes()).map_err(|e| (path.clone(), e))?;
        report.changed.push(f.clone());
    }
    for rel in stale_files(out_dir, files).map_err(|e| (out_dir.to_owned(), e))? {
        let path = out_dir.join(&rel);
        fs::remove_file(&path).map_err(|e| (path, e))?;
        report.removed.push(rel);
    }
    Ok(report)
}

/// A reader (Prometheus' inotify watch, for one) sees the old file or the new one, never half.
pub fn write_atomic(path: &Path, content: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".vpsmon-gen-config-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(content)?;
    tmp.as_file().sync_all()?;
    // tempfile creates 0600; Prometheus often runs as another user (a container's nobody).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
