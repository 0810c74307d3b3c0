//! Prints one scrape of this machine (`cargo run -p vpsmon-exporter --example scrape`).
//! With `--procfs DIR --rootfs DIR` it reads a fixture tree instead.

use vpsmon_exporter::collector::{Config, Scraper};

fn main() {
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().expect("a value after each flag");
        match a.as_str() {
            "--procfs" => config.paths.procfs = v.into(),
            "--sysfs" => config.paths.sysfs = v.into(),
            "--rootfs" => config.paths.rootfs = v.into(),
            other => panic!("unknown flag {other}"),
        }
    }
    let scraper = Scraper::new(config).expect("valid config");
    print!("{}", String::from_utf8_lossy(&scraper.scrape()));
}
