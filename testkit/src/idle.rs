//! Clients that open connections and send nothing, as a slow-loris or a port scanner does, and
//! a server started under systemd's default open-files limit, to show it still serves others.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// systemd's default soft limit of open files (`LimitNOFILE=1024`).
pub const SYSTEMD_NOFILE: u32 = 1024;

/// A command that runs `bin` with its open-files limit set to `limit` (via `sh -c ulimit`,
/// then `exec`, so the process's pid is `bin`'s).
pub fn with_nofile_limit(limit: u32, bin: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
        .arg(bin);
    cmd
}

/// Connections that send nothing.
pub struct IdleConnections(Vec<TcpStream>);

impl IdleConnections {
    /// Opens `n` connections to `addr`; panics if one cannot be opened within 10 s.
    pub async fn open(addr: SocketAddr, n: usize) -> IdleConnections {
        let mut conns = Vec::with_capacity(n);
        for i in 0..n {
            let c = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
                .await
                .unwrap_or_else(|_| panic!("connection {i} to {addr} not established in 10 s"))
                .unwrap_or_else(|e| panic!("connection {i} to {addr}: {e}"));
            conns.push(c);
        }
        IdleConnections(conns)
    }

    /// Waits up to `timeout` for the server to close every connection (end of file or reset);
    /// returns how many it left open.
    pub async fn wait_closed(&mut self, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut open = 0;
        for c in &mut self.0 {
            let mut buf = [0u8; 1024];
            let closed = async {
                // Whatever the server says before closing (an error page) is read past.
                while matches!(c.read(&mut buf).await, Ok(1..)) {}
            };
            if tokio::time::timeout_at(deadline, closed).await.is_err() {
                open += 1;
            }
        }
        open
    }
}
