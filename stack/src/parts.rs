//! The four parts of the local stack, where each keeps its files, and the exact command that
//! starts it. Everything binds 127.0.0.1 and keeps its data under the state dir.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One part of the stack, in start order: what is scraped or posted to starts first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Exporter,
    Receiver,
    Alertmanager,
    Prometheus,
}

impl Part {
    pub const ALL: [Part; 4] = [
        Part::Exporter,
        Part::Receiver,
        Part::Alertmanager,
        Part::Prometheus,
    ];

    /// Short name used in file names and output.
    pub fn name(self) -> &'static str {
        match self {
            Part::Exporter => "exporter",
            Part::Receiver => "receiver",
            Part::Alertmanager => "alertmanager",
            Part::Prometheus => "prometheus",
        }
    }

    /// How a message names it.
    pub fn title(self) -> &'static str {
        match self {
            Part::Exporter => "the exporter (vpsmon-exporter)",
            Part::Receiver => "the receiver (vpsmon-receiver)",
            Part::Alertmanager => "Alertmanager",
            Part::Prometheus => "Prometheus",
        }
    }

    /// The env var (and, lower-cased, the flag) that moves its port.
    pub fn port_env(self) -> &'static str {
        match self {
            Part::Exporter => "VPSMON_EXPORTER_PORT",
            Part::Receiver => "VPSMON_RECEIVER_PORT",
            Part::Alertmanager => "VPSMON_ALERTMANAGER_PORT",
            Part::Prometheus => "VPSMON_PROMETHEUS_PORT",
        }
    }
}

/// The loopback ports of the four parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ports {
    pub exporter: u16,
    pub receiver: u16,
    pub alertmanager: u16,
    pub prometheus: u16,
}

impl Ports {
    pub fn of(&self, part: Part) -> u16 {
        match part {
            Part::Exporter => self.exporter,
            Part::Receiver => self.receiver,
            Part::Alertmanager => self.alertmanager,
            Part::Prometheus => self.prometheus,
        }
    }
}

/// Where things live under the state dir.
#[derive(Clone, Debug)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf) -> Layout {
        Layout { root }
    }
    /// The agent list the user edits: `agents.yml` if the user created one (https, tokens,
    /// Cloudflare Access, rule thresholds), else `agents.txt` (seed 002's agent_name_ip.txt).
    pub fn agents(&self) -> PathBuf {
        let yml = self.root.join("agents.yml");
        if yml.exists() {
            yml
        } else {
            self.root.join("agents.txt")
        }
    }
    /// gen-config's output: prometheus/ and alertmanager/.
    pub fn config(&self) -> PathBuf {
        self.root.join("config")
    }
    pub fn prometheus_yml(&self) -> PathBuf {
        self.config().join("prometheus/prometheus.yml")
    }
    pub fn prometheus_rules(&self) -> PathBuf {
        self.config().join("prometheus/alert.rules.yml")
    }
    pub fn alertmanager_yml(&self) -> PathBuf {
        self.config().join("alertmanager/alertmanager.yml")
    }
    pub fn data(&self, part: Part) -> PathBuf {
        self.root.join("data").join(part.name())
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn log(&self, part: &str) -> PathBuf {
        self.logs().join(format!("{part}.log"))
    }
    pub fn run(&self) -> PathBuf {
        self.root.join("run")
    }
    pub fn lock(&self) -> PathBuf {
        self.run().join("stack.lock")
    }
    pub fn stack_json(&self) -> PathBuf {
        self.run().join("stack.json")
    }
    /// 0700: the webhook token and the receiver's chat secrets ([`crate::secrets`]).
    pub fn secrets(&self) -> PathBuf {
        self.root.join("secrets")
    }
    pub fn webhook_token(&self) -> PathBuf {
        self.secrets().join("webhook-token")
    }
}

/// The programs the stack runs.
#[derive(Clone, Debug)]
pub struct Programs {
    pub exporter: PathBuf,
    pub gen_config: PathBuf,
    pub receiver: PathBuf,
    pub prometheus: PathBuf,
    pub alertmanager: PathBuf,
}

impl Programs {
    pub fn of(&self, part: Part) -> &Path {
        match part {
            Part::Exporter => &self.exporter,
            Part::Receiver => &self.receiver,
            Part::Alertmanager => &self.alertmanager,
            Part::Prometheus => &self.prometheus,
        }
    }
}

/// How to tell that a part is ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub part: Part,
    pub port: u16,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Environment the stack sets for this part, on top of its allowlist ([`crate::env`]).
    pub env: Vec<(String, String)>,
    /// Answers 2xx once the part is ready.
    pub ready_url: String,
    /// What the user opens.
    pub url: String,
}

pub fn base_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// The command of every part, in start order.
pub fn specs(layout: &Layout, programs: &Programs, ports: &Ports) -> Vec<Spec> {
    Part::ALL
        .iter()
        .map(|&part| spec(part, layout, programs, ports))
        .collect()
}

fn spec(part: Part, layout: &Layout, programs: &Programs, ports: &Ports) -> Spec {
    let port = ports.of(part);
    let listen = format!("127.0.0.1:{port}");
    let url = base_url(port);
    let os = |s: &str| OsString::from(s);
    let path_arg = |flag: &str, p: PathBuf| {
        let mut s = OsString::from(flag);
        s.push(p.as_os_str());
        s
    };
    let (args, env, ready_url, url) = match part {
        Part::Exporter => (
            vec![os("--web.listen-address"), os(&listen)],
            vec![],
            format!("{url}/metrics"),
            format!("{url}/metrics"),
        ),
        Part::Receiver => (
            vec![
                os("--listen"),
                os(&listen),
                // Only Alertmanager, which gen-config gives the same file, may post alerts.
                os("--webhook-token-file"),
                layout.webhook_token().into(),
            ],
            {
                let mut env = vec![
                    ("PROMETHEUS_URL".to_owned(), base_url(ports.prometheus)),
                    ("ALERTMANAGER_URL".to_owned(), base_url(ports.alertmanager)),
                ];
                // Written by gen-config when agents.yml names action keys (`action-key`).
                let actions = layout.config().join("receiver/action-agents.yml");
                if actions.is_file() {
                    let file = actions.display().to_string();
                    env.push(("RECEIVER_ACTIONS_FILE".to_owned(), file));
                }
                env
            },
            format!("{url}/healthz"),
            url,
        ),
        Part::Alertmanager => (
            vec![
                path_arg("--config.file=", layout.alertmanager_yml()),
                path_arg("--storage.path=", layout.data(part)),
                os(&format!("--web.listen-address={listen}")),
                os(&format!("--web.external-url={url}")),
                // An empty address turns clustering off; otherwise it would bind 0.0.0.0:9094.
                os("--cluster.listen-address="),
            ],
            vec![],
            format!("{url}/-/ready"),
            url,
        ),
        Part::Prometheus => (
            vec![
                path_arg("--config.file=", layout.prometheus_yml()),
                path_arg("--storage.tsdb.path=", layout.data(part)),
                os(&format!("--web.listen-address={listen}")),
                os(&format!("--web.external-url={url}")),
                // No --web.enable-lifecycle: it would let any local user stop Prometheus with
                // POST /-/quit. The supervisor reloads it with SIGHUP instead.
            ],
            vec![],
            format!("{url}/-/ready"),
            url,
        ),
    };
    Spec {
        part,
        port,
        program: programs.of(part).to_owned(),
        args,
        env,
        ready_url,
        url,
    }
}

/// The arguments of `vpsmon-gen-config` for this stack.
pub fn gen_config_args(layout: &Layout, ports: &Ports, profile: Option<&str>) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "--agents".into(),
        layout.agents().into(),
        "--out-dir".into(),
        layout.config().into(),
        "--prometheus-address".into(),
        format!("127.0.0.1:{}", ports.prometheus).into(),
        "--alertmanager-address".into(),
        format!("127.0.0.1:{}", ports.alertmanager).into(),
        "--receiver-url".into(),
        format!("{}/alerts", base_url(ports.receiver)).into(),
        "--receiver-metrics-address".into(),
        format!("127.0.0.1:{}", ports.receiver).into(),
        "--receiver-token-file".into(),
        layout.webhook_token().into(),
    ];
    if let Some(p) = profile {
        args.push("--profile".into());
        args.push(p.into());
    }
    args
}

/// How long a part may take to become ready before `up` gives up on it.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Vec<Spec> {
        let layout = Layout::new(PathBuf::from("/s"));
        let programs = Programs {
            exporter: "/b/vpsmon-exporter".into(),
            gen_config: "/b/vpsmon-gen-config".into(),
            receiver: "/b/vpsmon-receiver".into(),
            prometheus: "/usr/bin/prometheus".into(),
            alertmanager: "/usr/bin/prometheus-alertmanager".into(),
        };
        let ports = Ports {
            exporter: 1,
            receiver: 2,
            alertmanager: 3,
            prometheus: 4,
        };
        specs(&layout, &programs, &ports)
    }

    #[test]
    fn every_part_listens_on_loopback_only() {
        for spec in fixture() {
            let args: Vec<String> = spec
                .args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let listen = args
                .iter()
                .position(|a| a.starts_with("--web.listen-address") || a == "--listen")
                .map(|i| {
                    args[i]
                        .split_once('=')
                        .map(|(_, v)| v.to_owned())
                        .unwrap_or_else(|| args[i + 1].clone())
                })
                .unwrap_or_else(|| panic!("{:?} has no listen flag: {args:?}", spec.part));
            assert_eq!(listen, format!("127.0.0.1:{}", spec.port));
        }
    }

    #[test]
    fn alertmanager_clustering_is_off_and_data_stays_in_the_state_dir() {
        let am = &fixture()[2];
        assert_eq!(am.part, Part::Alertmanager);
        let args: Vec<_> = am.args.iter().map(|a| a.to_str().unwrap()).collect();
        assert!(args.contains(&"--cluster.listen-address="), "{args:?}");
        assert!(
            args.contains(&"--storage.path=/s/data/alertmanager"),
            "{args:?}"
        );
        assert!(
            args.contains(&"--config.file=/s/config/alertmanager/alertmanager.yml"),
            "{args:?}"
        );
    }

    #[test]
    fn prometheus_has_no_lifecycle_api() {
        let prom = &fixture()[3];
        assert_eq!(prom.part, Part::Prometheus);
        assert!(
            !prom.args.iter().any(|a| a == "--web.enable-lifecycle"),
            "{:?}",
            prom.args
        );
    }

    #[test]
    fn alertmanager_and_the_receiver_are_given_the_same_webhook_token_file() {
        let layout = Layout::new(PathBuf::from("/s"));
        let ports = Ports {
            exporter: 1,
            receiver: 2,
            alertmanager: 3,
            prometheus: 4,
        };
        let gen_args = gen_config_args(&layout, &ports, None);
        let i = gen_args
            .iter()
            .position(|a| a == "--receiver-token-file")
            .expect("gen-config is given the token file");
        assert_eq!(gen_args[i + 1], "/s/secrets/webhook-token");
        let r = &fixture()[1];
        let i = r
            .args
            .iter()
            .position(|a| a == "--webhook-token-file")
            .expect("the receiver is given the token file");
        assert_eq!(r.args[i + 1], "/s/secrets/webhook-token");
    }

    #[test]
    fn the_receiver_is_told_where_prometheus_and_alertmanager_are() {
        let r = &fixture()[1];
        assert_eq!(r.part, Part::Receiver);
        assert!(
            r.env
                .contains(&("PROMETHEUS_URL".into(), "http://127.0.0.1:4".into()))
        );
        assert!(
            r.env
                .contains(&("ALERTMANAGER_URL".into(), "http://127.0.0.1:3".into()))
        );
    }
}
