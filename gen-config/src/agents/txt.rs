//! The seed's `agent_name_ip.txt`: `Name host:port` per line, `#` comments, blank lines skipped.

use std::path::Path;

use super::{Agent, InputError, ScrapeSettings, check_name, normalize_address};

pub(super) fn parse(path: &Path, text: &str) -> Result<Vec<Agent>, InputError> {
    let mut agents = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let fields: Vec<&str> = content.split_whitespace().collect();
        let [name, address] = fields[..] else {
            return Err(InputError::at(
                path,
                line,
                format!("malformed line \"{content}\": expected NAME HOST:PORT"),
            ));
        };
        check_name(name).map_err(|r| InputError::at(path, line, r))?;
        let address = normalize_address(address).map_err(|r| InputError::at(path, line, r))?;
        agents.push(Agent {
            name: name.to_owned(),
            address,
            labels: Default::default(),
            scrape: ScrapeSettings::default(),
            action: None,
            line,
        });
    }
    Ok(agents)
}
