//! bonding: `node_bonding_slaves{master}` and `node_bonding_active{master}` (slaves whose MII
//! status is `up`) from `<sysfs>/class/net/bonding_masters` and each master's
//! `bonding/slaves` and `lower_<slave>/bonding_slave/mii_status` (`slave_<slave>/` on old
//! kernels). No bonding_masters (no bonding module) is ErrNoData, as node_exporter.

use std::io;
use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family};
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, Shared, read_with};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "bonding",
    default_enabled: true,
    help: "Bonding interfaces' configured and active slaves, from /sys/class/net",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(BondingCollector {
        dir: config.paths.sysfs.join("class/net"),
    }))
}

struct BondingCollector {
    dir: PathBuf,
}

/// Reads a small sysfs file into a String.
fn read(path: &Path) -> Result<String, CollectError> {
    read_with(path, |data| Ok(data.to_owned()))
}

/// `(slaves, active)` of one master.
fn read_master(dir: &Path, master: &str) -> Result<(u64, u64), CollectError> {
    let master_dir = dir.join(master);
    let slaves = read(&master_dir.join("bonding/slaves"))?;
    let (mut configured, mut active) = (0, 0);
    for slave in slaves.split_ascii_whitespace() {
        let status = match read(&master_dir.join(format!("lower_{slave}/bonding_slave/mii_status"))) {
            Err(CollectError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                read(&master_dir.join(format!("slave_{slave}/bonding_slave/mii_status")))?
            }
            other => other?,
        };
        configured += 1;
        if status.trim() == "up" {
            active += 1;
        }
    }
    Ok((configured, active))
}

impl Collector for BondingCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let masters_path = self.dir.join("bonding_masters");
        let masters = read(&masters_path).map_err(CollectError::absent_is_no_data)?;
        // A master that cannot be read costs that master (node_exporter fails them all).
        let mut errors = Vec::new();
        let mut stats = Vec::new();
        for master in masters.split_ascii_whitespace() {
            if stats.iter().any(|(m, _)| *m == master) {
                continue;
            }
            match read_master(&self.dir, master) {
                Ok(s) => stats.push((master, s)),
                Err(e) => errors.push(e),
            }
        }
        stats.sort_unstable();
        let mut family = gauge_family(
            enc,
            "node_bonding_slaves",
            "Number of configured slaves per bonding interface.",
        )?;
        for (master, (slaves, _)) in &stats {
            gauge(&mut family, &[("master", *master)], *slaves)?;
        }
        let mut family = gauge_family(
            enc,
            "node_bonding_active",
            "Number of active slaves per bonding interface.",
        )?;
        for (master, (_, active)) in &stats {
            gauge(&mut family, &[("master", *master)], *active)?;
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    fn scrape(files: &[(&str, &[u8])]) -> String {
        let dir = tree(files);
        scrape_of("bonding", build(&config_for(dir.path())).unwrap())
    }

    #[test]
    fn node_exporters_fixture_lines() {
        // The shape of node_exporter's fixture: bond0 without slaves, dmz with two up (one
        // under the old `slave_` name), int with one of two up.
        let body = scrape(&[
            ("sys/class/net/bonding_masters", b"bond0 dmz int\n"),
            ("sys/class/net/bond0/bonding/slaves", b"\n"),
            ("sys/class/net/dmz/bonding/slaves", b"eth0 eth4\n"),
            (
                "sys/class/net/dmz/lower_eth0/bonding_slave/mii_status",
                b"up\n",
            ),
            (
                "sys/class/net/dmz/slave_eth4/bonding_slave/mii_status",
                b"up\n",
            ),
            ("sys/class/net/int/bonding/slaves", b"eth5 eth1\n"),
            (
                "sys/class/net/int/lower_eth5/bonding_slave/mii_status",
                b"down\n",
            ),
            (
                "sys/class/net/int/lower_eth1/bonding_slave/mii_status",
                b"up\n",
            ),
        ]);
        assert_eq!(
            samples(&body),
            [
                "node_bonding_slaves{master=\"bond0\"} 0",
                "node_bonding_slaves{master=\"dmz\"} 2",
                "node_bonding_slaves{master=\"int\"} 2",
                "node_bonding_active{master=\"bond0\"} 0",
                "node_bonding_active{master=\"dmz\"} 2",
                "node_bonding_active{master=\"int\"} 1",
            ]
        );
        assert!(body.contains(
            "# HELP node_bonding_active Number of active slaves per bonding interface.\n# TYPE node_bonding_active gauge\n"
        ));
        assert!(body.contains("node_scrape_collector_success{collector=\"bonding\"} 1\n"));
    }

    #[test]
    fn no_bonding_is_no_data_and_a_broken_master_costs_only_itself() {
        let body = scrape(&[("sys/class/net/lo/mtu", b"65536\n")]);
        assert_eq!(samples(&body), Vec::<&str>::new());
        assert!(body.contains("node_scrape_collector_success{collector=\"bonding\"} 1\n"));

        let body = scrape(&[
            ("sys/class/net/bonding_masters", b"gone bond0\n"),
            ("sys/class/net/bond0/bonding/slaves", b"eth0\n"),
            (
                "sys/class/net/bond0/lower_eth0/bonding_slave/mii_status",
                b"up\n",
            ),
        ]);
        assert_eq!(
            samples(&body),
            [
                "node_bonding_slaves{master=\"bond0\"} 1",
                "node_bonding_active{master=\"bond0\"} 1",
            ]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"bonding\"} 0\n"));
    }
}
