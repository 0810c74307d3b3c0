//! entropy: `node_entropy_available_bits` and `node_entropy_pool_size_bits` from
//! `<procfs>/sys/kernel/random/{entropy_avail,poolsize}`.

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::single_gauge;
use super::read::read_u64;
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, Shared};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "entropy",
    default_enabled: true,
    help: "Available entropy from /proc/sys/kernel/random",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let dir = config.paths.procfs.join("sys/kernel/random");
    Ok(Box::new(EntropyCollector {
        avail: dir.join("entropy_avail"),
        poolsize: dir.join("poolsize"),
    }))
}

struct EntropyCollector {
    avail: PathBuf,
    poolsize: PathBuf,
}

impl Collector for EntropyCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        // As node_exporter: the available bits are reported even if the pool size is missing.
        single_gauge(
            enc,
            "node_entropy_available_bits",
            "Bits of available entropy.",
            read_u64(&self.avail)?,
        )?;
        single_gauge(
            enc,
            "node_entropy_pool_size_bits",
            "Bits of entropy pool.",
            read_u64(&self.poolsize)?,
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
        scrape_of("entropy", build(&config_for(dir.path())).unwrap())
    }

    #[test]
    fn node_exporters_fixture_gives_its_lines() {
        let body = scrape(&[
            ("proc/sys/kernel/random/entropy_avail", b"1337\n"),
            ("proc/sys/kernel/random/poolsize", b"4096\n"),
        ]);
        assert_eq!(
            samples(&body),
            [
                "node_entropy_available_bits 1337",
                "node_entropy_pool_size_bits 4096"
            ]
        );
        assert!(body.contains("# HELP node_entropy_available_bits Bits of available entropy.\n# TYPE node_entropy_available_bits gauge\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"entropy\"} 1\n"));
    }

    #[test]
    fn a_missing_pool_size_keeps_the_available_bits_and_fails() {
        let body = scrape(&[("proc/sys/kernel/random/entropy_avail", b"256\n")]);
        assert_eq!(samples(&body), ["node_entropy_available_bits 256"]);
        assert!(body.contains("node_scrape_collector_success{collector=\"entropy\"} 0\n"));
        let body = scrape(&[("proc/sys/kernel/random/entropy_avail", b"many\n")]);
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"entropy\"} 0\n"));
    }
}
