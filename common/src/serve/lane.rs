//! The fast lane: a [`FastRoute`]'s requests served by a thread of their own that blocks on its
//! socket, without the async runtime and hyper in between.
//!
//! A scrape arrives once every 15 s on a kept-alive connection, with every cache cold. Waking the
//! runtime's reactor, its task and hyper's connection state machine for it cost as much CPU as
//! answering: a thread asleep in `recv` is woken by the kernel straight into the read. So, while
//! fewer than [`LANE_THREADS`] lanes are open, a new connection gets one, and its requests are
//! read and answered there as long as they are plain `GET`s the route takes in full. The first
//! request that is anything else (another path, a body, `Expect`, HTTP/1.0, a header too large
//! or malformed) is handed, with every byte read so far, to hyper on the runtime, which serves
//! the rest of that connection as it serves any other.
//!
//! The lane keeps the server's bounds: the header of a request must arrive within
//! [`Limits::header_timeout`] (the first request's from the connection's start; a later one's
//! from its first byte, after at most [`Limits::keep_alive`] of waiting for it); an answer must
//! be taken within [`Limits::body_timeout`]; the read buffer is [`READ_BUFFER`]; the accept
//! loop may close an idle lane to make room (it shuts the socket down), and a stop closes idle
//! lanes and lets a request in progress finish.

use std::io::{IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};
use bytes::Bytes;
use tokio::sync::watch;

use super::{Busy, Conn, FastRoute, Head, Limits, READ_BUFFER};

/// Lanes open at once. Prometheus keeps one connection per scraper (two for an HA pair); a
/// client beyond this is served on the runtime like any other, so a crowd of connections costs
/// no more threads than this.
pub(super) const LANE_THREADS: usize = 8;

/// A lane's stack: a scrape runs on it. As much as a main thread's would have in a small
/// container; only the pages used are ever resident.
const STACK: usize = 2 * 1024 * 1024;

/// Headers a fast request may have; one with more goes to hyper.
const MAX_HEADERS: usize = 48;

/// What a lane gives back to the runtime when a request is not its to answer: the connection and
/// the bytes already read from it.
pub(super) struct HandOff {
    pub stream: TcpStream,
    pub read: Vec<u8>,
}

/// Counts the lanes open; a slot is taken before the thread starts and freed when it ends.
#[derive(Default)]
pub(super) struct Lanes {
    open: AtomicUsize,
}

/// A lane's slot in [`Lanes`], freed when dropped.
pub(super) struct Slot(Arc<Lanes>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Lanes {
    /// A slot for a new lane, if fewer than [`LANE_THREADS`] are open.
    pub(super) fn take(self: &Arc<Self>) -> Option<Slot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < LANE_THREADS).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(self)))
    }
}

/// What a lane needs besides its socket.
pub(super) struct Lane {
    pub route: Arc<dyn FastRoute>,
    pub conn: Arc<Conn>,
    pub limits: Limits,
    pub stopping: watch::Receiver<bool>,
    pub runtime: tokio::runtime::Handle,
}

/// Starts a thread serving `stream`; `done` gets what is left for hyper (if anything) when it
/// ends. Gives the socket back if no thread can be started.
pub(super) fn start(
    stream: TcpStream,
    lane: Lane,
    slot: Slot,
    done: tokio::sync::oneshot::Sender<Option<HandOff>>,
) -> Result<(), TcpStream> {
    // Shut down by the accept loop to evict or stop an idle lane.
    let Ok(handle) = stream.try_clone() else {
        return Err(stream);
    };
    *lane.conn.lane.lock().unwrap() = Some(handle);
    let conn = Arc::clone(&lane.conn);
    let spawned = std::thread::Builder::new()
        .name("fast-lane".into())
        .stack_size(STACK)
        .spawn(move || {
            let _slot = slot;
            let _runtime = lane.runtime.enter();
            let left = serve(stream, &lane);
            lane.conn.lane.lock().unwrap().take();
            let _ = done.send(left);
        });
    match spawned {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a fast-lane thread");
            // The socket went with the closure; its duplicate serves on the runtime instead.
            let handle = conn.lane.lock().unwrap().take();
            handle.map_or(Ok(()), Err)
        }
    }
}

/// Reads and answers requests until the client closes, a bound is passed, the server stops, or a
/// request is not the route's (then returned, with the connection, for hyper).
fn serve(mut stream: TcpStream, lane: &Lane) -> Option<HandOff> {
    let floor = |d: Duration| d.max(Duration::from_millis(1));
    let header_timeout = floor(lane.limits.header_timeout);
    // An answered connection may wait longer for its next request than a new one for its first.
    let keep_alive = floor(lane.limits.keep_alive.max(header_timeout));
    let write_limit = floor(lane.limits.body_timeout);
    if stream.set_read_timeout(Some(header_timeout)).is_err()
        || stream.set_write_timeout(Some(write_limit)).is_err()
        || stream.set_nodelay(true).is_err()
    {
        return None;
    }
    // The timeout set on the socket now, so that it is only changed when it must be.
    let mut timeout = header_timeout;
    // Zeroed once; only the pages a header reaches are ever touched.
    let mut buf = vec![0u8; READ_BUFFER];
    let mut filled = 0;
    let mut answered = false;
    let keep = lane.route.headers();
    loop {
        if *lane.stopping.borrow() {
            return None;
        }
        // The header within the header timeout, from the connection's start or (once answered)
        // from the first byte of the next request.
        let mut deadline = (!answered || filled > 0).then(|| Instant::now() + header_timeout);
        let parsed = loop {
            if filled > 0 {
                match parse(&buf[..filled], keep) {
                    Parsed::Complete(request) => break request,
                    Parsed::Partial => {}
                    Parsed::NotOurs => return Some(hand_off(stream, buf, filled)),
                }
            }
            if filled == READ_BUFFER {
                // hyper refuses a header this large with 431.
                return Some(hand_off(stream, buf, filled));
            }
            // Nothing read yet: the full wait (so the socket's timeout only changes once, when
            // the first answer turns the header timeout into the keep-alive); a partial header:
            // what is left of its deadline.
            let wait = match (filled, deadline) {
                (0, _) if answered => keep_alive,
                (0, _) => header_timeout,
                (_, Some(d)) => d.saturating_duration_since(Instant::now()),
                (_, None) => header_timeout,
            };
            if wait.is_zero() {
                return None;
            }
            if wait != timeout {
                if stream.set_read_timeout(Some(wait)).is_err() {
                    return None;
                }
                timeout = wait;
            }
            match stream.read(&mut buf[filled..]) {
                // Closed, timed out (an idle connection too), shut down or reset.
                Ok(0) | Err(_) => return None,
                Ok(n) => {
                    if filled == 0 && deadline.is_none() {
                        deadline = Some(Instant::now() + header_timeout);
                    }
                    filled += n;
                }
            }
        };
        let head = Head {
            method: &parsed.method,
            uri: &parsed.uri,
            headers: &parsed.headers,
            has_body: false,
        };
        let busy = Busy::new(&lane.conn);
        let Some(response) = lane.route.answer_blocking(&head) else {
            return Some(hand_off(stream, buf, filled));
        };
        buf.copy_within(parsed.len..filled, 0);
        filled -= parsed.len;
        let written = write_response(&mut stream, response, parsed.close, write_limit);
        drop(busy);
        answered = true;
        if written.is_err() || parsed.close {
            let _ = stream.shutdown(Shutdown::Write);
            return None;
        }
    }
}

/// The connection, with the `filled` bytes read and not yet answered, for hyper.
fn hand_off(stream: TcpStream, mut buf: Vec<u8>, filled: usize) -> HandOff {
    buf.truncate(filled);
    HandOff { stream, read: buf }
}

/// A request the lane may answer.
struct Request {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    /// Length of its header in the buffer.
    len: usize,
    /// The client asked to close after this answer.
    close: bool,
}

enum Parsed {
    Complete(Box<Request>),
    Partial,
    /// Not a plain bodiless HTTP/1.1 request: hyper's to serve (or refuse).
    NotOurs,
}

/// Parses the request at the start of `buf`; of its headers, those named in `keep` are kept
/// (the route reads no others), the rest only checked.
fn parse(buf: &[u8], keep: &[HeaderName]) -> Parsed {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::NotOurs,
    };
    let (Some(method), Some(path), Some(1)) = (req.method, req.path, req.version) else {
        return Parsed::NotOurs;
    };
    let (Ok(method), Ok(uri)) = (Method::from_bytes(method.as_bytes()), path.parse::<Uri>()) else {
        return Parsed::NotOurs;
    };
    // Origin form only (`/metrics?x`), as hyper would route it.
    if uri.scheme().is_some() || !path.starts_with('/') {
        return Parsed::NotOurs;
    }
    let mut headers = HeaderMap::new();
    let mut close = false;
    for h in req.headers.iter() {
        let is = |name: &HeaderName| h.name.eq_ignore_ascii_case(name.as_str());
        if is(&header::TRANSFER_ENCODING)
            || is(&header::EXPECT)
            || is(&header::UPGRADE)
            || (is(&header::CONTENT_LENGTH) && h.value != b"0")
        {
            return Parsed::NotOurs;
        }
        if is(&header::CONNECTION) {
            for token in h.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return Parsed::NotOurs;
                }
            }
        }
        // httparse has checked the name's characters; the value is checked as hyper does.
        if let Some(name) = keep.iter().find(|k| is(k)) {
            let Ok(value) = HeaderValue::from_bytes(h.value) else {
                return Parsed::NotOurs;
            };
            headers.append(name.clone(), value);
        } else if h
            .value
            .iter()
            .any(|&b| (b < b' ' && b != b'\t') || b == 0x7f)
        {
            return Parsed::NotOurs;
        }
    }
    Parsed::Complete(Box::new(Request {
        method,
        uri,
        headers,
        len,
        close,
    }))
}

/// Writes `response` as HTTP/1.1 with a `Content-Length` and a `Date`, as hyper would, within
/// `limit` for the whole of it (a client that takes its answer a byte at a time is dropped).
/// The socket's write timeout is `limit` when called; it is shortened only after a partial
/// write, and set back after.
fn write_response(
    stream: &mut TcpStream,
    response: http::Response<Bytes>,
    close: bool,
    limit: Duration,
) -> std::io::Result<()> {
    let deadline = Instant::now() + limit;
    let (parts, body) = response.into_parts();
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(parts.status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(
        parts
            .status
            .canonical_reason()
            .unwrap_or("Unknown")
            .as_bytes(),
    );
    head.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH || name == header::DATE || name == header::CONNECTION {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"content-length: ");
    head.extend_from_slice(body.len().to_string().as_bytes());
    head.extend_from_slice(b"\r\ndate: ");
    head.extend_from_slice(httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
    if close {
        head.extend_from_slice(b"\r\nconnection: close");
    }
    head.extend_from_slice(b"\r\n\r\n");
    let mut parts = [&head[..], &body[..]];
    let mut done = 0usize;
    let total = head.len() + body.len();
    let mut shortened = false;
    while done < total {
        if done > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            stream.set_write_timeout(Some(left))?;
            shortened = true;
        }
        let (h, b) = (parts[0], parts[1]);
        let n = stream.write_vectored(&[IoSlice::new(h), IoSlice::new(b)])?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        done += n;
        let from_head = n.min(h.len());
        parts = [&h[from_head..], &b[n - from_head..]];
    }
    if shortened {
        stream.set_write_timeout(Some(limit))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    static KEEP: [HeaderName; 2] = [header::ACCEPT_ENCODING, header::CONTENT_LENGTH];

    fn complete(raw: &str) -> Request {
        match parse(raw.as_bytes(), &KEEP) {
            Parsed::Complete(r) => *r,
            Parsed::Partial => panic!("partial: {raw:?}"),
            Parsed::NotOurs => panic!("not ours: {raw:?}"),
        }
    }

    fn not_ours(raw: &str) -> bool {
        matches!(parse(raw.as_bytes(), &KEEP), Parsed::NotOurs)
    }

    #[test]
    fn a_plain_get_is_the_lanes_and_anything_else_is_hypers() {
        let r = complete("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\nGET");
        assert_eq!(r.method, Method::GET);
        assert_eq!(r.uri.path(), "/metrics");
        assert_eq!(r.headers["accept-encoding"], "gzip");
        assert_eq!(
            r.len,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n".len()
        );
        assert!(!r.close);
        assert!(complete("GET /m HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n").close);
        assert!(
            complete("GET /m HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
                .headers
                .len()
                == 1
        );
        assert!(matches!(
            parse(b"GET /metrics HTTP/1.1\r\nHost", &KEEP),
            Parsed::Partial
        ));
        // Only the headers the route reads are kept.
        let r = complete("GET /m HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
        assert_eq!(r.headers.len(), 1);
        assert!(!r.headers.contains_key("host"));

        // A body, chunks, a 100-continue, an upgrade, HTTP/1.0, an absolute or odd target, a
        // malformed line: hyper answers these (or refuses them) as for any connection.
        for raw in [
            "POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
            "GET /metrics HTTP/1.0\r\n\r\n",
            "GET http://host/metrics HTTP/1.1\r\n\r\n",
            "GET * HTTP/1.1\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nX-Odd: a\x01b\r\n\r\n",
            "NOT A REQUEST\r\n\r\n",
        ] {
            assert!(not_ours(raw), "{raw:?}");
        }
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X-A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert!(not_ours(&many));
    }

    #[test]
    fn the_answer_is_written_whole_with_length_and_date() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let body = Bytes::from(vec![b'x'; 300_000]);
        let response = http::Response::builder()
            .status(401)
            .header("content-type", "application/json")
            .header("content-length", "999")
            .body(body.clone())
            .unwrap();
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            client.read_to_end(&mut all).unwrap();
            all
        });
        write_response(&mut server, response, true, Duration::from_secs(30)).unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        let all = reader.join().unwrap();
        let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(all[..split].to_vec()).unwrap();
        assert!(head.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{head}");
        assert!(
            head.contains("\r\ncontent-type: application/json"),
            "{head}"
        );
        assert!(head.contains("\r\ncontent-length: 300000"), "{head}");
        assert!(!head.contains("999"), "{head}");
        assert!(head.contains("\r\ndate: "), "{head}");
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert_eq!(&all[split + 4..], &body[..]);
    }
}
