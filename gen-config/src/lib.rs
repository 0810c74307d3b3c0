//! vpsmon-gen-config: the agent list becomes prometheus.yml, alert rules, file_sd targets and
//! alertmanager.yml. `main` only parses flags; [`run`] does the work so tests can call it.

pub mod agents;
pub mod cli;
pub mod duration;
pub mod output;
pub mod reload;
pub mod render;
pub mod rules;
pub mod settings;
pub mod version;

use std::io::Write;
use std::path::PathBuf;

use agents::{AgentList, InputError};
use output::{Kind, OutFile};
use settings::Settings;
use version::HTTP_HEADERS_SINCE;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The agent list is wrong: exit 2.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A flag or env var is wrong: exit 2.
    #[error("{0}")]
    Usage(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Reload(String),
}

impl Error {
    /// 2 for bad input (nothing was written), 1 for failures while writing or reloading.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) | Error::Usage(_) => 2,
            Error::Write { .. } | Error::Reload(_) => 1,
        }
    }
}

/// Every output file, rendered in memory. Fails before anything is written.
pub fn generate(list: &AgentList, s: &Settings) -> Result<Vec<OutFile>, Error> {
    check_prometheus_version(list, s)?;
    let jobs = render::targets::jobs(&list.agents);
    let mut files = Vec::new();
    for job in &jobs {
        files.push(OutFile {
            rel: format!("prometheus/{}", job.file()),
            content: render::targets::render(job),
            kind: Kind::Targets,
        });
    }
    files.push(OutFile {
        rel: "prometheus/alert.rules.yml".into(),
        content: render::rules::render(&s.source_name, &rule_groups(s)),
        kind: Kind::PrometheusConfig,
    });
    if s.shards <= 1 {
        files.push(OutFile {
            rel: "prometheus/prometheus.yml".into(),
            content: render::prometheus::render(s, &jobs, None),
            kind: Kind::PrometheusConfig,
        });
    } else {
        for i in 0..s.shards {
            files.push(OutFile {
                rel: format!("prometheus/prometheus-shard-{i}.yml"),
                content: render::prometheus::render(s, &jobs, Some(i)),
                kind: Kind::PrometheusConfig,
            });
        }
    }
    files.push(OutFile {
        rel: "alertmanager/alertmanager.yml".into(),
        content: render::alertmanager::render(s),
        kind: Kind::Alertmanager,
    });
    if let Some(content) = render::receiver::render(&s.source_name, &list.agents) {
        files.push(OutFile {
            rel: render::receiver::PATH.into(),
            content,
            kind: Kind::Receiver,
        });
    }
    Ok(files)
}

/// The built-in groups, plus the host pack when asked for.
fn rule_groups(s: &Settings) -> Vec<rules::Group> {
    let mut groups = rules::groups(&s.rules);
    if s.host_pack {
        groups.push(rules::host::group());
    }
    groups
}

/// Cloudflare Access headers need `http_headers` (Prometheus 2.55+). Leaving them out would
/// scrape without credentials and every such agent would look down, so this is an error.
fn check_prometheus_version(list: &AgentList, s: &Settings) -> Result<(), Error> {
    if s.prometheus_version >= HTTP_HEADERS_SINCE {
        return Ok(());
    }
    let lines: Vec<String> = list
        .agents
        .iter()
        .filter(|a| a.scrape.cf_access.is_some())
        .map(|a| {
            format!(
                "{}:{}: agent \"{}\" uses cf_access, which needs Prometheus {HTTP_HEADERS_SINCE} or newer (http_headers); \
                 --prometheus-version is {}: run a newer Prometheus and pass --prometheus-version, or remove cf_access",
                list.path.display(),
                a.line,
                a.name,
                s.prometheus_version
            )
        })
        .collect();
    if lines.is_empty() {
        Ok(())
    } else {
        Err(Error::Usage(lines.join("\n")))
    }
}

/// The whole command. Returns the exit code; `out` gets the report, errors are returned.
pub fn run(
    cli: &cli::Cli,
    layers: &vpsmon_common::config::Layers,
    out: &mut dyn Write,
) -> Result<i32, Error> {
    let list = agents::load(&cli.agents)?;
    let mut settings = cli
        .settings(layers, &list.rules, &cli.agents)
        .map_err(Error::Usage)?;
    if layers.print_config_asked() {
        let _ = write!(out, "{}", layers.print());
        return Ok(0);
    }
    // Checked by promtool before anything is written or compared.
    let (rules_dir, explicit) = cli.rules_dir();
    let rules::user::Loaded {
        files: user_rules,
        skipped,
    } = rules::user::load(&rules_dir, explicit, &cli.promtool, &cli.out_dir)
        .map_err(Error::Usage)?;
    for path in skipped {
        let _ = writeln!(
            out,
            "skipped {}: not a rule file (only *.yml and *.yaml are read)",
            path.display()
        );
    }
    settings.user_rule_files = user_rules.iter().map(|r| r.rule_file()).collect();
    let mut files = generate(&list, &settings)?;
    files.extend(user_rules.iter().map(|r| r.out_file()));
    if cli.check {
        let diff = output::check(&cli.out_dir, &files).map_err(|source| Error::Write {
            path: cli.out_dir.clone(),
            source,
        })?;
        if diff.is_empty() {
            let _ = writeln!(out, "{} files are up to date", files.len());
            return Ok(0);
        }
        let _ = write!(out, "{diff}");
        let _ = writeln!(
            out,
            "the files under {} are not what vpsmon-gen-config would write: run it without --check",
            cli.out_dir.display()
        );
        return Ok(1);
    }
    let report = output::write(&cli.out_dir, &files)
        .map_err(|(path, source)| Error::Write { path, source })?;
    for f in &report.changed {
        let _ = writeln!(out, "wrote {}", f.rel);
    }
    for rel in &report.removed {
        let _ = writeln!(out, "removed {rel} (no longer generated)");
    }
    let _ = writeln!(
        out,
        "{}",
        summary(
            list.agents.len(),
            report.changed.len(),
            report.unchanged.len()
        )
    );
    if report.changed.iter().any(|f| f.kind == Kind::Alertmanager) {
        let _ = writeln!(
            out,
            "alertmanager.yml changed: reload Alertmanager (POST /-/reload or SIGHUP)"
        );
    }
    if cli.reload_url.is_empty() {
        return Ok(0);
    }
    if !report.prometheus_needs_reload() {
        let _ = writeln!(
            out,
            "prometheus.yml and the rules are unchanged: no reload needed (Prometheus rereads target files itself)"
        );
        return Ok(0);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let client = reload::client();
    let mut failures = Vec::new();
    for url in &cli.reload_url {
        match runtime.block_on(reload::reload(&client, url)) {
            Ok(msg) => {
                let _ = writeln!(out, "{msg}");
            }
            Err(msg) => failures.push(msg),
        }
    }
    if failures.is_empty() {
        Ok(0)
    } else {
        Err(Error::Reload(failures.join("\n")))
    }
}

/// `1 agent, 1 file changed, 3 unchanged`: what a run did, in words a reader expects.
fn summary(agents: usize, changed: usize, unchanged: usize) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{}, {} changed, {unchanged} unchanged",
        plural(agents, "agent", "agents"),
        plural(changed, "file", "files")
    )
}

#[cfg(test)]
mod summary_tests {
    #[test]
    fn one_agent_and_one_file_are_singular() {
        assert_eq!(
            super::summary(1, 1, 3),
            "1 agent, 1 file changed, 3 unchanged"
        );
        assert_eq!(
            super::summary(5, 0, 6),
            "5 agents, 0 files changed, 6 unchanged"
        );
    }
}
