//! filefd: `node_filefd_allocated` and `node_filefd_maximum` from `<procfs>/sys/fs/file-nr`.

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::single_gauge;
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, parse_num,
    read_with,
};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "filefd",
    default_enabled: true,
    help: "File descriptor statistics from /proc/sys/fs/file-nr",
    flags: &[],
    build,
};

/// Parses `file-nr` (`allocated\tfree\tmaximum`); the middle value is always 0 since
/// Linux 2.6, so node_exporter skips it.
pub fn parse_file_nr(data: &str) -> Result<(u64, u64), ParseError> {
    let parts: Vec<&str> = data.trim().split('\t').collect();
    let [allocated, _, maximum, ..] = parts[..] else {
        return Err(ParseError::new(
            1,
            format!("{} values, not 3 tab-separated ones", parts.len()),
        ));
    };
    Ok((
        parse_num(1, "allocated", allocated)?,
        parse_num(1, "maximum", maximum)?,
    ))
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(FilefdCollector {
        path: config.paths.procfs.join("sys/fs/file-nr"),
    }))
}

struct FilefdCollector {
    path: PathBuf,
}

impl Collector for FilefdCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        read_with(&self.path, |data| {
            let (allocated, maximum) =
                parse_file_nr(data).map_err(|e| CollectError::parse(&self.path, e))?;
            single_gauge(
                enc,
                "node_filefd_allocated",
                "File descriptor statistics: allocated.",
                allocated,
            )?;
            single_gauge(
                enc,
                "node_filefd_maximum",
                "File descriptor statistics: maximum.",
                maximum,
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn node_exporters_fixture_gives_its_lines() {
        let dir = tree(&[("proc/sys/fs/file-nr", b"1024\t0\t1631329\n")]);
        let body = scrape_of("filefd", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            ["node_filefd_allocated 1024", "node_filefd_maximum 1631329"]
        );
        assert!(body.contains("# HELP node_filefd_allocated File descriptor statistics: allocated.\n# TYPE node_filefd_allocated gauge\n"));
    }

    #[test]
    fn garbled_file_nr_is_an_error() {
        assert_eq!(
            parse_file_nr("1024 0 1631329\n").unwrap_err().to_string(),
            "line 1: 1 values, not 3 tab-separated ones"
        );
        assert_eq!(
            parse_file_nr("1024\t0\tlots\n").unwrap_err().to_string(),
            "line 1: maximum: \"lots\" is not a number"
        );
        let dir = tree(&[("proc/sys/fs/file-nr", b"")]);
        let body = scrape_of("filefd", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"filefd\"} 0\n"));
    }
}
