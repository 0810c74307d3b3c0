//! node_exporter's device filter (`device_filter.go`), shared by the collectors with
//! `--collector.<name>.device-include|exclude` flags (arp, netdev, infiniband).

use super::{Config, ConfigError, FlagSpec, compile_regex};

/// node_exporter's device filter: a device is skipped when it matches the exclude regex or,
/// with an include regex, does not match it. An empty flag is no regex.
#[derive(Debug)]
pub(crate) struct DeviceFilter {
    exclude: Option<regex::Regex>,
    include: Option<regex::Regex>,
}

impl DeviceFilter {
    pub(crate) fn new(
        config: &Config,
        exclude: &FlagSpec,
        include: &FlagSpec,
    ) -> Result<DeviceFilter, ConfigError> {
        let value = |flag: &FlagSpec| (flag.name, config.options.value(flag));
        DeviceFilter::from_values(value(exclude), value(include))
    }

    /// From (flag, value) pairs, when a value may come from another (deprecated) flag.
    pub(crate) fn from_values(
        exclude: (&'static str, &str),
        include: (&'static str, &str),
    ) -> Result<DeviceFilter, ConfigError> {
        let compile = |(flag, value): (&'static str, &str)| match value {
            "" => Ok(None),
            v => compile_regex(flag, v).map(Some),
        };
        Ok(DeviceFilter {
            exclude: compile(exclude)?,
            include: compile(include)?,
        })
    }

    pub(crate) fn ignored(&self, device: &str) -> bool {
        self.exclude.as_ref().is_some_and(|r| r.is_match(device))
            || self.include.as_ref().is_some_and(|r| !r.is_match(device))
    }
}
