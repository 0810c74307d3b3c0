//! selinux: `node_selinux_enabled`, and when it is, `node_selinux_config_mode` and
//! `node_selinux_current_mode`, as node_exporter reads them (through go-selinux): enabled when
//! selinuxfs is mounted at `<sysfs>/fs/selinux`; the current mode from its `enforce`, the
//! configured one from `<rootfs>/etc/selinux/config`.

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::single_gauge;
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, Shared};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "selinux",
    default_enabled: true,
    help: "SELinux state from /sys/fs/selinux and /etc/selinux/config",
    flags: &[],
    build,
};

/// go-selinux's modes: enforcing 1, permissive 0, disabled -1.
const DISABLED: i64 = -1;

/// The `SELINUX=` mode of an `/etc/selinux/config`, as go-selinux's DefaultEnforceMode.
pub fn config_mode(config: &str) -> i64 {
    let value = config
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with(';'))
        .find_map(|l| l.strip_prefix("SELINUX="))
        .map(|v| v.trim().trim_matches('"'));
    match value {
        Some("enforcing") => 1,
        Some("permissive") => 0,
        _ => DISABLED,
    }
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(SelinuxCollector {
        enforce: config.paths.sysfs.join("fs/selinux/enforce"),
        config: config.paths.rootfs.join("etc/selinux/config"),
    }))
}

struct SelinuxCollector {
    enforce: PathBuf,
    config: PathBuf,
}

impl Collector for SelinuxCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        // No selinuxfs (every Debian/Ubuntu VPS): enabled 0 and nothing else, success 1.
        // Through `read_with`: a missing file is remembered (`absent`) until selinuxfs is
        // mounted.
        let Ok(enforce) = super::read_with(&self.enforce, |d| Ok(d.to_owned())) else {
            single_gauge(
                enc,
                "node_selinux_enabled",
                "SELinux is enabled, 1 is true, 0 is false",
                0i64,
            )?;
            return Ok(());
        };
        let current = enforce.trim().parse::<i64>().unwrap_or(DISABLED);
        let configured = std::fs::read_to_string(&self.config)
            .map(|c| config_mode(&c))
            .unwrap_or(DISABLED);
        single_gauge(
            enc,
            "node_selinux_enabled",
            "SELinux is enabled, 1 is true, 0 is false",
            1i64,
        )?;
        single_gauge(
            enc,
            "node_selinux_config_mode",
            "Configured SELinux enforcement mode",
            configured,
        )?;
        single_gauge(
            enc,
            "node_selinux_current_mode",
            "Current SELinux enforcement mode",
            current,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    fn scrape(files: &[(&str, &[u8])]) -> String {
        let dir = tree(files);
        scrape_of("selinux", build(&config_for(dir.path())).unwrap())
    }

    #[test]
    fn without_selinuxfs_only_enabled_0() {
        let body = scrape(&[]);
        assert_eq!(samples(&body), ["node_selinux_enabled 0"]);
        assert!(body.contains("# HELP node_selinux_enabled SELinux is enabled, 1 is true, 0 is false\n# TYPE node_selinux_enabled gauge\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"selinux\"} 1\n"));
    }

    #[test]
    fn a_permissive_host_configured_enforcing() {
        let body = scrape(&[
            ("sys/fs/selinux/enforce", b"0"),
            (
                "rootfs/etc/selinux/config",
                b"# SELINUX=disabled\nSELINUX=enforcing\nSELINUXTYPE=targeted\n",
            ),
        ]);
        assert_eq!(
            samples(&body),
            [
                "node_selinux_enabled 1",
                "node_selinux_config_mode 1",
                "node_selinux_current_mode 0"
            ]
        );
        assert_eq!(config_mode("SELINUX=permissive\n"), 0);
        assert_eq!(config_mode("SELINUX=disabled\n"), -1);
        assert_eq!(config_mode(""), -1);
    }
}
