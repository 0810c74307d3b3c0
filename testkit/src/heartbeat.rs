//! A loopback stand-in for a healthchecks.io-style heartbeat URL: it counts the GETs of one
//! secret path and answers each `200 OK`, as such a service does.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The check's URL (`http://127.0.0.1:PORT/<path>`) and the number of GETs of it so far.
pub struct PingCounter {
    pub url: String,
    count: Arc<AtomicUsize>,
}

impl PingCounter {
    /// Serves on a loopback port until the test process ends; `path` is the check's secret part.
    pub fn start(path: &str) -> PingCounter {
        let listener = crate::procs::bind_loopback();
        let url = format!("http://{}/{path}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&count);
        let request_line = format!("GET /{path} ");
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let n = conn.read(&mut buf).unwrap_or(0);
                if buf[..n].starts_with(request_line.as_bytes()) {
                    c.fetch_add(1, Ordering::SeqCst);
                }
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK",
                );
            }
        });
        PingCounter { url, count }
    }

    /// GETs of the check's path so far.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}
