//! timex: `node_timex_*`, the kernel clock discipline's state from adjtimex(2) (read only:
//! `modes = 0`), computed exactly as node_exporter does.

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{single_counter, single_gauge};
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, Shared};

/// adjtimex's return value when the clock is not synchronised (TIME_ERROR).
const TIME_ERROR: i32 = 5;
/// `status` bit: offset and jitter are in nanoseconds, not microseconds (STA_NANO).
const STA_NANO: i64 = 0x2000;
const NANOSECONDS: f64 = 1_000_000_000.0;
const MICROSECONDS: f64 = 1_000_000.0;
/// Frequencies are in ppm with a 16-bit fraction (see NOTES in adjtimex(2)).
const PPM16FRAC: f64 = 1_000_000.0 * 65536.0;

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "timex",
    default_enabled: true,
    help: "Kernel clock synchronisation state from adjtimex(2)",
    flags: &[],
    build,
};

pub(super) fn build(_config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(TimexCollector))
}

/// The raw adjtimex fields node_exporter uses, widened to i64 (their C types vary by ABI).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Raw {
    /// adjtimex's return value: the clock state (TIME_OK ... TIME_ERROR).
    pub state: i32,
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub status: i64,
    pub constant: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i64,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i64,
}

/// Reads the clock state; adjtimex with `modes = 0` changes nothing and needs no privilege.
fn adjtimex() -> std::io::Result<Raw> {
    // SAFETY: a zeroed timex is a valid argument; modes = 0 only reads.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `tx` is a valid, exclusively borrowed timex for the duration of the call.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // The field types differ between ABIs (long vs long long), hence the `as`.
    #[allow(clippy::unnecessary_cast)]
    Ok(Raw {
        state,
        offset: tx.offset as i64,
        freq: tx.freq as i64,
        maxerror: tx.maxerror as i64,
        esterror: tx.esterror as i64,
        status: tx.status as i64,
        constant: tx.constant as i64,
        tick: tx.tick as i64,
        ppsfreq: tx.ppsfreq as i64,
        jitter: tx.jitter as i64,
        shift: tx.shift as i64,
        stabil: tx.stabil as i64,
        jitcnt: tx.jitcnt as i64,
        calcnt: tx.calcnt as i64,
        errcnt: tx.errcnt as i64,
        stbcnt: tx.stbcnt as i64,
        tai: tx.tai as i64,
    })
}

struct TimexCollector;

impl Collector for TimexCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        match adjtimex() {
            Ok(raw) => encode(enc, &raw),
            // As node_exporter: a sandbox that forbids the call means no data, not a failure.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                Err(CollectError::NoData(format!("adjtimex: {e}")))
            }
            Err(e) => Err(CollectError::Syscall {
                call: "adjtimex",
                source: e,
            }),
        }
    }
}

/// node_exporter's families and arithmetic (integers first, then the scaled values).
pub(crate) fn encode(enc: &mut DescriptorEncoder<'_>, t: &Raw) -> Result<(), CollectError> {
    let divisor = if t.status & STA_NANO != 0 {
        NANOSECONDS
    } else {
        MICROSECONDS
    };
    let synced = u8::from(t.state != TIME_ERROR);
    single_gauge(
        enc,
        "node_timex_sync_status",
        "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
        synced as i64,
    )?;
    for (name, help, value) in [
        (
            "node_timex_status",
            "Value of the status array bits.",
            t.status,
        ),
        (
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            t.constant,
        ),
        (
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            t.shift,
        ),
        (
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            t.tai,
        ),
    ] {
        single_gauge(enc, name, help, value)?;
    }
    let gauges: [(&str, &str, f64); 8] = [
        (
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            t.offset as f64 / divisor,
        ),
        (
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            1.0 + t.freq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            t.maxerror as f64 / MICROSECONDS,
        ),
        (
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            t.esterror as f64 / MICROSECONDS,
        ),
        (
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            t.tick as f64 / MICROSECONDS,
        ),
        (
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            t.ppsfreq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            t.jitter as f64 / divisor,
        ),
        (
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            t.stabil as f64 / PPM16FRAC,
        ),
    ];
    for (name, help, value) in gauges {
        single_gauge(enc, name, help, value)?;
    }
    for (name, help, value) in [
        (
            "node_timex_pps_jitter",
            "Pulse per second count of jitter limit exceeded events.",
            t.jitcnt,
        ),
        (
            "node_timex_pps_calibration",
            "Pulse per second count of calibration intervals.",
            t.calcnt,
        ),
        (
            "node_timex_pps_error",
            "Pulse per second count of calibration errors.",
            t.errcnt,
        ),
        (
            "node_timex_pps_stability_exceeded",
            "Pulse per second count of stability limit exceeded events.",
            t.stbcnt,
        ),
    ] {
        // The kernel's counters are never negative; a negative one is reported as 0.
        single_counter(enc, name, help, u64::try_from(value).unwrap_or(0))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{samples, scrape_of};
    use super::*;

    struct Fixed(Raw);
    impl Collector for Fixed {
        fn update(
            &self,
            _shared: &Shared,
            enc: &mut DescriptorEncoder<'_>,
        ) -> Result<(), CollectError> {
            encode(enc, &self.0)
        }
    }

    /// What `adjtimex` gave on an NTP-synchronised Debian 12 VM (chrony), microsecond mode.
    const SYNCED: Raw = Raw {
        state: 0,
        offset: -1234,
        freq: -1_441_792,
        maxerror: 16_000,
        esterror: 250,
        status: 0x2001,
        constant: 7,
        tick: 10_000,
        ppsfreq: 0,
        jitter: 0,
        shift: 0,
        stabil: 0,
        jitcnt: 0,
        calcnt: 0,
        errcnt: 0,
        stbcnt: 0,
        tai: 37,
    };

    #[test]
    fn computes_node_exporters_values() {
        let body = scrape_of("timex", Box::new(Fixed(SYNCED)));
        assert_eq!(
            samples(&body),
            [
                "node_timex_sync_status 1",
                "node_timex_status 8193",
                "node_timex_loop_time_constant 7",
                "node_timex_pps_shift_seconds 0",
                "node_timex_tai_offset_seconds 37",
                // STA_NANO is set: the offset is in nanoseconds.
                "node_timex_offset_seconds -0.000001234",
                "node_timex_frequency_adjustment_ratio 0.999978",
                "node_timex_maxerror_seconds 0.016",
                "node_timex_estimated_error_seconds 0.00025",
                "node_timex_tick_seconds 0.01",
                "node_timex_pps_frequency_hertz 0.0",
                "node_timex_pps_jitter_seconds 0.0",
                "node_timex_pps_stability_hertz 0.0",
                "node_timex_pps_jitter_total 0",
                "node_timex_pps_calibration_total 0",
                "node_timex_pps_error_total 0",
                "node_timex_pps_stability_exceeded_total 0",
            ]
        );
        assert!(body.contains(
            "# HELP node_timex_sync_status Is clock synchronized to a reliable server (1 = yes, 0 = no).\n# TYPE node_timex_sync_status gauge\n"
        ));
        assert!(body.contains("# TYPE node_timex_pps_error counter\n"));
    }

    #[test]
    fn time_error_means_not_synchronised_and_microseconds_without_sta_nano() {
        let raw = Raw {
            state: TIME_ERROR,
            status: 0x40,
            offset: 1500,
            ..SYNCED
        };
        let body = scrape_of("timex", Box::new(Fixed(raw)));
        let lines = samples(&body);
        assert_eq!(lines[0], "node_timex_sync_status 0");
        assert_eq!(lines[5], "node_timex_offset_seconds 0.0015");
    }

    #[test]
    fn the_real_syscall_answers_every_family() {
        let body = scrape_of("timex", build(&Config::default()).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"timex\"} 1\n"));
        assert_eq!(samples(&body).len(), 17, "{body}");
        assert!(body.contains("\nnode_timex_tick_seconds "), "{body}");
    }
}
