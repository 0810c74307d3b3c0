//! time: `node_time_seconds` and `node_time_zone_offset_seconds{time_zone}`.

use std::ffi::CStr;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family, single_gauge};
use super::{CollectorSpec, CollectError, Collector, Config, ConfigError, Shared};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "time",
    default_enabled: true,
    help: "The current system time and time zone",
    flags: &[],
    build,
};

pub(super) fn build(_config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(TimeCollector))
}

struct TimeCollector;

impl Collector for TimeCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        single_gauge(
            enc,
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
            now.as_secs_f64(),
        )?;
        if let Some((zone, offset)) = local_zone(now.as_secs() as libc::time_t) {
            let mut family = gauge_family(
                enc,
                "node_time_zone_offset_seconds",
                "System time zone offset in seconds.",
            )?;
            gauge(&mut family, &[("time_zone", zone.as_str())], offset)?;
        }
        Ok(())
    }
}

/// The local time zone's abbreviation and UTC offset at `t`, as localtime(3) sees them.
fn local_zone(t: libc::time_t) -> Option<(String, i64)> {
    // SAFETY: localtime_r writes only into `tm`; tm_zone then points at static tz data
    // (or is null), which we copy before returning.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        let zone = if tm.tm_zone.is_null() {
            String::new()
        } else {
            CStr::from_ptr(tm.tm_zone).to_string_lossy().into_owned()
        };
        Some((zone, tm.tm_gmtoff as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn reports_the_clock_and_zone() {
        let dir = tree(&[]);
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let body = scrape_of("time", build(&config_for(dir.path())).unwrap());
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let lines = samples(&body);
        let now: f64 = lines[0]
            .strip_prefix("node_time_seconds ")
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            before <= now && now <= after,
            "{now} not in [{before}, {after}]"
        );
        assert!(
            lines[1].starts_with("node_time_zone_offset_seconds{time_zone=\""),
            "{body}"
        );
    }
}
