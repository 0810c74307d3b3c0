//! uname: `node_uname_info{sysname,release,version,machine,nodename,domainname}`.
//!
//! The fields come from `<procfs>/sys/kernel/{ostype,osrelease,version,hostname,domainname,arch}`
//! (what uname(2) returns, as files) so that a fixture tree controls them. `arch` exists since
//! Linux 6.1; on older kernels the machine comes from uname(2) itself, which is the same value
//! whenever procfs is the host's.

use std::ffi::CStr;
use std::path::PathBuf;
use std::sync::Mutex;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family};
use super::{CollectorSpec, CollectError, Collector, Config, ConfigError, Shared, read_with};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "uname",
    default_enabled: true,
    help: "Kernel and host names from /proc/sys/kernel",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let dir = config.paths.procfs.join("sys/kernel");
    Ok(Box::new(UnameCollector {
        fixed_files: ["ostype", "osrelease", "version"].map(|f| dir.join(f)),
        arch: dir.join("arch"),
        hostname: dir.join("hostname"),
        domainname: dir.join("domainname"),
        fixed: Mutex::new(None),
    }))
}

struct UnameCollector {
    fixed_files: [PathBuf; 3],
    arch: PathBuf,
    hostname: PathBuf,
    domainname: PathBuf,
    /// sysname, release, version, machine: fixed until the next boot (which restarts the
    /// exporter), so they are read once. Host and domain names can change at any time.
    fixed: Mutex<Option<[String; 4]>>,
}

fn read_line(path: &std::path::Path) -> Result<String, CollectError> {
    read_with(path, |data| Ok(data.trim_end_matches('\n').to_owned()))
}

impl UnameCollector {
    fn read_fixed(&self) -> Result<[String; 4], CollectError> {
        let machine = match read_line(&self.arch) {
            Ok(m) => m,
            Err(CollectError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                machine_from_uname()
            }
            Err(e) => return Err(e),
        };
        Ok([
            read_line(&self.fixed_files[0])?,
            read_line(&self.fixed_files[1])?,
            read_line(&self.fixed_files[2])?,
            machine,
        ])
    }
}

impl Collector for UnameCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let nodename = read_line(&self.hostname)?;
        let domainname = read_line(&self.domainname)?;
        let mut fixed = self.fixed.lock().unwrap_or_else(|p| p.into_inner());
        if fixed.is_none() {
            *fixed = Some(self.read_fixed()?);
        }
        let Some([sysname, release, version, machine]) = fixed.as_ref() else {
            return Ok(());
        };
        let mut family = gauge_family(
            enc,
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
        )?;
        let labels = [
            ("domainname", domainname.as_str()),
            ("machine", machine.as_str()),
            ("nodename", nodename.as_str()),
            ("release", release.as_str()),
            ("sysname", sysname.as_str()),
            ("version", version.as_str()),
        ];
        gauge(&mut family, &labels, 1u64)?;
        Ok(())
    }
}

fn machine_from_uname() -> String {
    // SAFETY: uname(2) fills the zeroed struct; its fields are NUL-terminated.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return String::new();
        }
        CStr::from_ptr(u.machine.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    fn kernel_tree(with_arch: bool) -> tempfile::TempDir {
        let mut files: Vec<(&str, &[u8])> = vec![
            ("proc/sys/kernel/ostype", b"Linux\n"),
            ("proc/sys/kernel/osrelease", b"6.1.0-18-amd64\n"),
            (
                "proc/sys/kernel/version",
                b"#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\n",
            ),
            ("proc/sys/kernel/hostname", b"vps-1\n"),
            ("proc/sys/kernel/domainname", b"(none)\n"),
        ];
        if with_arch {
            files.push(("proc/sys/kernel/arch", b"aarch64\n"));
        }
        tree(&files)
    }

    #[test]
    fn encodes_the_kernel_files() {
        let dir = kernel_tree(true);
        let body = scrape_of("uname", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            [
                "node_uname_info{domainname=\"(none)\",machine=\"aarch64\",nodename=\"vps-1\",release=\"6.1.0-18-amd64\",sysname=\"Linux\",version=\"#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\"} 1"
            ]
        );
    }

    #[test]
    fn machine_falls_back_to_uname_on_kernels_without_arch() {
        let dir = kernel_tree(false);
        let body = scrape_of("uname", build(&config_for(dir.path())).unwrap());
        let machine = machine_from_uname();
        assert!(!machine.is_empty());
        assert!(body.contains(&format!("machine=\"{machine}\"")), "{body}");
    }

    #[test]
    fn a_missing_hostname_fails_the_collector() {
        let dir = kernel_tree(true);
        std::fs::remove_file(dir.path().join("proc/sys/kernel/hostname")).unwrap();
        let body = scrape_of("uname", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"uname\"} 0\n"));
    }
}
