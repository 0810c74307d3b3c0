//! What the integration tests share: starting our binary and node_exporter on loopback, and
//! reading the text exposition format (Prometheus 0.0.4 and OpenMetrics) into series.

#![allow(dead_code)] // each test binary uses a different part

pub mod allowlist;
pub mod e2e_tree;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use testkit::procs::{Proc, free_port, require_binary, wait_http_ok};

/// The `--path.*` flags for a fixture tree (`proc/`, `sys/`, `rootfs/`), with every collector
/// off until named.
pub fn fixture_args(root: &Path) -> Vec<String> {
    vec![
        format!("--path.procfs={}", root.join("proc").display()),
        format!("--path.sysfs={}", root.join("sys").display()),
        format!("--path.rootfs={}", root.join("rootfs").display()),
        "--collector.disable-defaults".to_owned(),
    ]
}

/// node_exporter's flags that make its defaults ours: /proc/net/dev instead of netlink (which
/// reports a few error counters differently), no interface hidden (Debian's package hides lo),
/// and the filesystem excludes (Debian's also hide /run, /mnt, /media).
pub fn node_exporter_as_ours() -> Vec<String> {
    vec![
        "--no-collector.netdev.netlink".to_owned(),
        "--collector.netdev.device-exclude=^$".to_owned(),
        format!(
            "--collector.filesystem.mount-points-exclude={}",
            vpsmon_exporter::collector::filesystem::DEFAULT_MOUNT_POINTS_EXCLUDE
        ),
        format!(
            "--collector.filesystem.fs-types-exclude={}",
            vpsmon_exporter::collector::filesystem::DEFAULT_FS_TYPES_EXCLUDE
        ),
        // 1.12's default, which also skips zram; Debian's 1.5 does not.
        format!(
            "--collector.diskstats.device-exclude={}",
            flag_default(&vpsmon_exporter::collector::diskstats::DEVICE_EXCLUDE)
        ),
    ]
}

/// The default of a collector's value flag.
pub fn flag_default(flag: &vpsmon_exporter::collector::FlagSpec) -> &'static str {
    match flag.kind {
        vpsmon_exporter::collector::FlagKind::Value { default } => default,
        _ => panic!("{} takes no single value", flag.name),
    }
}

/// A running exporter and its base URL.
pub struct Running {
    pub proc: Proc,
    pub base: String,
}

/// Starts `vpsmon-exporter` with `args` on a free loopback port and waits until /ping answers.
pub async fn start_ours(dir: &Path, args: &[String]) -> Running {
    start_ours_in(dir, None, args).await
}

/// [`start_ours`] in the working directory `cwd`, for relative `--path.*` flags.
pub async fn start_ours_in(dir: &Path, cwd: Option<&Path>, args: &[String]) -> Running {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpsmon-exporter"));
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(args);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let mut proc = Proc::spawn("vpsmon-exporter", cmd, &dir.join("vpsmon-exporter.log")).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(&mut proc, &format!("{base}/ping"), Duration::from_secs(30))
        .await
        .unwrap();
    Running { proc, base }
}

/// Starts Debian's node_exporter with `args` on a free loopback port.
pub async fn start_node_exporter(dir: &Path, args: &[String]) -> Running {
    let bin = require_binary(
        "NODE_EXPORTER_BIN",
        &["prometheus-node-exporter", "node_exporter"],
        "prometheus-node-exporter",
    );
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(args);
    let mut proc = Proc::spawn("node_exporter", cmd, &dir.join("node_exporter.log")).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(
        &mut proc,
        &format!("{base}/metrics"),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    Running { proc, base }
}

/// The collectors node_exporter has, from its `--help` (`--collector.<name>  Enable the <name>
/// collector`).
pub fn node_exporter_collectors() -> std::collections::BTreeSet<String> {
    let bin = require_binary(
        "NODE_EXPORTER_BIN",
        &["prometheus-node-exporter", "node_exporter"],
        "prometheus-node-exporter",
    );
    let out = Command::new(bin).arg("--help").output().unwrap();
    let help =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let collectors: std::collections::BTreeSet<String> = help
        .lines()
        .filter_map(|l| {
            let (flag, text) = l.trim().split_once(char::is_whitespace)?;
            let name = flag.strip_prefix("--collector.")?;
            text.trim_start()
                .starts_with(&format!("Enable the {name} collector"))
                .then(|| name.to_owned())
        })
        .collect();
    assert!(
        collectors.contains("cpu"),
        "no collectors in node_exporter --help:\n{help}"
    );
    collectors
}

/// What Prometheus 2.x sends; node_exporter answers it in the text format 0.0.4, ours in
/// OpenMetrics.
pub const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// One `/metrics` body, asked for as Prometheus asks.
pub async fn scrape(base: &str) -> String {
    let resp = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .header(reqwest::header::ACCEPT, PROMETHEUS_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{base}/metrics");
    resp.text().await.unwrap()
}

/// Labels of one series, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// One scrape: sample name -> (labels -> value), and the declared type of each sample name.
#[derive(Debug, Default)]
pub struct Exposition {
    pub samples: BTreeMap<String, BTreeMap<Labels, f64>>,
    pub types: BTreeMap<String, String>,
}

impl Exposition {
    /// Parses the text format. In OpenMetrics a counter family `x` has samples `x_total` and an
    /// info family `x` samples `x_info`; both spellings map to the sample name.
    pub fn parse(text: &str) -> Exposition {
        let mut out = Exposition::default();
        let mut family_types: BTreeMap<String, String> = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (family, kind) = rest.split_once(' ').unwrap();
                family_types.insert(family.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (name, labels, rest) =
                parse_series(line).unwrap_or_else(|e| panic!("line {}: {e}: {line:?}", n + 1));
            let value = rest.split_whitespace().next().unwrap_or("");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("line {}: bad value {v:?}", n + 1)),
            };
            out.samples
                .entry(name.clone())
                .or_default()
                .insert(labels, value);
            let kind = family_types
                .get(&name)
                .or_else(|| {
                    name.strip_suffix("_total")
                        .and_then(|f| family_types.get(f))
                })
                .or_else(|| name.strip_suffix("_info").and_then(|f| family_types.get(f)));
            if let Some(kind) = kind {
                out.types.insert(name, kind.clone());
            }
        }
        out
    }

    pub fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.samples
            .keys()
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect()
    }
}

/// `name{a="x",b="y"} rest` -> (name, labels, rest).
fn parse_series(line: &str) -> Result<(String, Labels, &str), String> {
    let end = line.find(['{', ' ']).ok_or("no value after the name")?;
    let name = line[..end].to_owned();
    let mut labels = Labels::new();
    if !line[end..].starts_with('{') {
        return Ok((name, labels, &line[end..]));
    }
    let bytes = line.as_bytes();
    let mut i = end + 1;
    loop {
        if bytes.get(i) == Some(&b'}') {
            return Ok((name, labels, &line[i + 1..]));
        }
        let eq = line[i..].find('=').ok_or("label without '='")? + i;
        let key = line[i..eq].trim_start_matches(',').to_owned();
        if bytes.get(eq + 1) != Some(&b'"') {
            return Err(format!("label {key} value is not quoted"));
        }
        let mut value = String::new();
        let mut j = eq + 2;
        loop {
            match bytes.get(j) {
                None => return Err("unterminated label value".into()),
                Some(b'\\') => {
                    match bytes.get(j + 1) {
                        Some(b'n') => value.push('\n'),
                        Some(&c) => value.push(c as char),
                        None => return Err("dangling escape".into()),
                    }
                    j += 2;
                }
                Some(b'"') => break,
                Some(_) => {
                    let c = line[j..].chars().next().unwrap();
                    value.push(c);
                    j += c.len_utf8();
                }
            }
        }
        labels.insert(key, value);
        i = j + 1;
        if bytes.get(i) == Some(&b',') {
            i += 1;
        }
    }
}

#[test]
fn the_parser_reads_both_formats() {
    let om = Exposition::parse(
        "# TYPE node_cpu_seconds counter\nnode_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n\
         # TYPE node_uname info\nnode_uname_info{nodename=\"a\\\"b\"} 1\n# EOF\n",
    );
    let cpu = &om.samples["node_cpu_seconds_total"];
    let labels: Labels = [("cpu", "0"), ("mode", "idle")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(cpu[&labels], 12.5);
    assert_eq!(om.types["node_cpu_seconds_total"], "counter");
    assert_eq!(om.types["node_uname_info"], "info");
    let uname = om.samples["node_uname_info"].keys().next().unwrap();
    assert_eq!(uname["nodename"], "a\"b");

    let text = Exposition::parse("# TYPE node_load1 gauge\nnode_load1 0.25\n");
    assert_eq!(text.samples["node_load1"][&Labels::new()], 0.25);
    assert_eq!(text.types["node_load1"], "gauge");
}

/// `promtool check metrics` (Prometheus' own text-format parser) on `body`: its exit code and
/// output. 1 is a parse error; 3 is lint only (node_exporter's meminfo names are camelCase, and
/// promtool 2.42 has no flag to turn that lint off).
pub fn promtool_check(body: &str) -> (Option<i32>, String) {
    use std::io::Write;
    let promtool = testkit::procs::require_binary("PROMTOOL_BIN", &["promtool"], "prometheus");
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}
