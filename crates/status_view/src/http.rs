//! The opt-in HTTP listener (`status_http` in lvs.cf; docs/control.md, "HTTP"): the
//! status page at `/`, the Prometheus metrics at `/metrics`, `lvsctl status --json` at
//! `/status.json`. Read-only: GET and HEAD, nothing else.
//!
//! It runs on threads of its own and collects what it shows over the daemons' control
//! sockets, as `lvsctl` does: a scraper or a browser, however slow or hostile, costs a
//! thread of this listener and never a turn of the daemon's event loop (the heartbeat).
//! It is bounded everywhere: [`MAX_CLIENTS`] connections at a time, [`MAX_REQUEST`]
//! bytes of request head, [`HEAD_LIMIT`] to send it, [`CLIENT_LIMIT`] for a whole
//! exchange, [`ANSWER_LIMIT`] for each daemon's answer. When every place is taken, a new
//! connection takes the place of the one that has waited longest without sending its
//! request: idle or slow peers cannot lock a scraper out; a new connection is closed at
//! once only when every place is answering.
//!
//! Hand-written rather than a server crate: three fixed GET routes, one request per
//! connection, and the bounds above are all it needs, and they are what matters here.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::info;

use crate::Sockets;

/// Connections served at once (see the module's note on what happens past it).
pub const MAX_CLIENTS: usize = 32;
/// The longest request head (request line and headers).
pub const MAX_REQUEST: usize = 8 * 1024;
/// A whole exchange: the request read, the daemons asked, the answer written.
pub(crate) const CLIENT_LIMIT: Duration = Duration::from_secs(10);
/// To send the request head (a scraper sends it at once).
pub const HEAD_LIMIT: Duration = Duration::from_secs(2);
/// How long each daemon gets to answer.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(2);
/// Seconds between the status page's own reloads.
pub(crate) const PAGE_REFRESH: u32 = 5;
/// Set in lvsd's environment by pulse, to pulse's control socket: pulse serves the
/// listener for the director, and lvsd leaves it alone. An environment variable rather
/// than an option keeps lvsd's legacy command line.
pub const PULSE_SOCKET_ENV: &str = "PULSE_CONTROL_SOCKET";
/// How often the accepting thread looks whether it should stop.
const STOP_CHECK: Duration = Duration::from_millis(200);

/// A running listener; dropping it stops accepting (served clients finish on their own).
pub struct StatusListener {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StatusListener {
    /// Binds `address` and serves what the daemons on `sockets` answer.
    pub fn start(address: SocketAddr, sockets: Sockets) -> io::Result<StatusListener> {
        let listener = TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("status-http".into())
            .spawn(move || accept_loop(&listener, &sockets, &flag))?;
        Ok(StatusListener {
            address,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens (the bound port when 0 was asked).
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for StatusListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The listener a daemon keeps in step with its lvs.cf's `status_http`.
#[derive(Default)]
pub struct StatusHttp {
    running: Option<StatusListener>,
    wanted: Option<SocketAddr>,
}

impl StatusHttp {
    /// Starts, moves or stops the listener for `wanted` (from lvs.cf); logs what it did.
    /// An address that cannot be bound is logged and tried again at the next call.
    pub fn apply(&mut self, wanted: Option<SocketAddr>, sockets: &Sockets) {
        if wanted == self.wanted && (wanted.is_none() || self.running.is_some()) {
            return;
        }
        self.wanted = wanted;
        if let Some(old) = self.running.take() {
            let address = old.address();
            drop(old); // closed before it is said to be
            info!("status page and metrics no longer on http://{address}/");
        }
        let Some(address) = wanted else { return };
        match StatusListener::start(address, sockets.clone()) {
            Ok(l) => {
                info!("status page and metrics on http://{}/", l.address());
                self.running = Some(l);
            }
            Err(e) => info!("cannot serve the status page on {address}: {e}"),
        }
    }
}

/// The connections being served: when each came, and whether it is still sending its
/// request (which makes it the one to drop for a newcomer when every place is taken).
#[derive(Default)]
struct Places {
    next_id: u64,
    taken: Vec<Place>,
}

struct Place {
    id: u64,
    since: Instant,
    reading: bool,
    /// A handle on the connection, to shut it down when its place is given away.
    stream: TcpStream,
}

impl Places {
    /// A place for a new connection, the oldest one still reading given away when all
    /// are taken; `None` when every place is answering.
    fn take(&mut self, stream: &TcpStream, now: Instant) -> Option<u64> {
        if self.taken.len() >= MAX_CLIENTS {
            let oldest = (0..self.taken.len())
                .filter(|i| self.taken[*i].reading)
                .min_by_key(|i| self.taken[*i].since)?;
            let gone = self.taken.swap_remove(oldest);
            let _ = gone.stream.shutdown(std::net::Shutdown::Both);
        }
        let stream = stream.try_clone().ok()?;
        self.next_id += 1;
        self.taken.push(Place {
            id: self.next_id,
            since: now,
            reading: true,
            stream,
        });
        Some(self.next_id)
    }

    fn answering(&mut self, id: u64) {
        if let Some(p) = self.taken.iter_mut().find(|p| p.id == id) {
            p.reading = false;
        }
    }

    fn leave(&mut self, id: u64) {
        self.taken.retain(|p| p.id != id);
    }
}

fn accept_loop(listener: &TcpListener, sockets: &Sockets, stop: &AtomicBool) {
    let places = Arc::new(Mutex::new(Places::default()));
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [nix::poll::PollFd::new(
            listener.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let wait = nix::poll::PollTimeout::try_from(STOP_CHECK.as_millis() as i32)
            .unwrap_or(nix::poll::PollTimeout::NONE);
        if nix::poll::poll(&mut fds, wait).unwrap_or(0) == 0 {
            continue;
        }
        while let Ok((stream, _)) = listener.accept() {
            let taken = lock(&places).take(&stream, Instant::now());
            // Every place answering: closed at once, which a scraper reports and retries.
            let Some(id) = taken else { continue };
            let (mine, sockets) = (Arc::clone(&places), sockets.clone());
            let spawned = std::thread::Builder::new()
                .name("status-client".into())
                .spawn(move || {
                    let _ = serve(stream, &sockets, || lock(&mine).answering(id));
                    lock(&mine).leave(id);
                });
            if spawned.is_err() {
                lock(&places).leave(id);
            }
        }
    }
}

/// The places, whatever a panicking client thread left (its data stays consistent: each
/// change is one push, one field or one removal).
fn lock(places: &Mutex<Places>) -> std::sync::MutexGuard<'_, Places> {
    places.lock().unwrap_or_else(|e| e.into_inner())
}

/// One exchange: read the request head, answer, close. `answering` is called once the
/// head has been read.
fn serve(mut stream: TcpStream, sockets: &Sockets, answering: impl FnOnce()) -> io::Result<()> {
    let start = Instant::now();
    let deadline = start + CLIENT_LIMIT;
    stream.set_nonblocking(false)?;
    let head = read_head(&mut stream, start + HEAD_LIMIT);
    answering();
    let response = match head {
        Ok(head) => respond(&head, sockets),
        Err(HeadError::TooLong) => Response::plain(431, "request header too large\n"),
        Err(HeadError::Malformed) => Response::plain(400, "bad request\n"),
        Err(HeadError::Io(e)) => return Err(e),
    };
    let left = deadline.saturating_duration_since(Instant::now());
    stream.set_write_timeout(Some(left.max(Duration::from_millis(1))))?;
    stream.write_all(&response.bytes())?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    // Closing with unread input resets the connection, and the client may lose the answer
    // (a refused long request): read a little more first, briefly.
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    let _ = io::copy(&mut (&mut stream).take(64 * 1024), &mut io::sink());
    Ok(())
}

#[derive(Debug)]
enum HeadError {
    TooLong,
    Malformed,
    Io(io::Error),
}

/// The request line and headers, up to the blank line, within `deadline`.
fn read_head(stream: &mut TcpStream, deadline: Instant) -> Result<Request, HeadError> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let end = find(&head, b"\r\n\r\n").or_else(|| find(&head, b"\n\n"));
        if end.unwrap_or(head.len()) > MAX_REQUEST {
            return Err(HeadError::TooLong);
        }
        if let Some(end) = end {
            return Request::parse(&head[..end]).ok_or(HeadError::Malformed);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HeadError::Io(io::ErrorKind::TimedOut.into()));
        }
        stream.set_read_timeout(Some(left)).map_err(HeadError::Io)?;
        match stream.read(&mut buf) {
            Ok(0) => return Err(HeadError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(HeadError::Io(e)),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What is read of a request: its method and path (without the query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
}

impl Request {
    pub(crate) fn parse(head: &[u8]) -> Option<Request> {
        let line = std::str::from_utf8(head).ok()?.lines().next()?;
        let mut words = line.split(' ');
        let (method, target, version) = (words.next()?, words.next()?, words.next()?);
        if words.next().is_some() || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
            return None;
        }
        let path = target.split(['?', '#']).next().unwrap_or("/");
        Some(Request {
            method: method.to_string(),
            path: path.to_string(),
        })
    }
}

pub(crate) struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
    /// HEAD: the headers of a GET, no body.
    head_only: bool,
}

impl Response {
    fn plain(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_string(),
            head_only: false,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Request Header Fields Too Large",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
             Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n{}\
             Connection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len(),
            if self.status == 405 {
                "Allow: GET, HEAD\r\n"
            } else {
                ""
            },
        )
        .into_bytes();
        if !self.head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// The answer to `req`; the daemons are asked only for a route that shows them.
pub(crate) fn respond(req: &Request, sockets: &Sockets) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::plain(405, "read-only: GET or HEAD\n");
    }
    let (content_type, show): (_, fn(&crate::PulseAnswer, &crate::LvsdAnswer) -> String) =
        match req.path.as_str() {
            "/" | "/index.html" => ("text/html; charset=utf-8", |p, l| {
                crate::page::render(p, l, PAGE_REFRESH)
            }),
            "/metrics" => ("text/plain; version=0.0.4; charset=utf-8", |p, l| {
                crate::metrics::render(p, l)
            }),
            "/status.json" => ("application/json", |p, l| {
                format!("{}\n", crate::json(p, l))
            }),
            _ => return Response::plain(404, "not found: try /, /metrics or /status.json\n"),
        };
    let (pulse, lvsd) = crate::collect(sockets, ANSWER_LIMIT);
    Response {
        status: 200,
        content_type,
        body: show(&pulse, &lvsd),
        head_only: req.method == "HEAD",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_read_strictly() {
        let r = Request::parse(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a").unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/metrics"));
        for bad in [
            &b"GET /metrics"[..],
            b"GET metrics HTTP/1.1",
            b"GET / HTTP/2 extra",
            b"GET / SPDY/3",
            b"\xff\xfe / HTTP/1.1",
            b"",
        ] {
            assert_eq!(Request::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_get_and_head_and_three_routes() {
        let nowhere = Sockets {
            pulse: "/nonexistent/pulse.sock".into(),
            lvsd: "/nonexistent/lvs.sock".into(),
        };
        let ask = |method: &str, path: &str| {
            let r = respond(
                &Request {
                    method: method.into(),
                    path: path.into(),
                },
                &nowhere,
            );
            String::from_utf8(r.bytes()).unwrap()
        };
        let post = ask("POST", "/metrics");
        assert!(
            post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{post}"
        );
        assert!(post.contains("\r\nAllow: GET, HEAD\r\n"), "{post}");
        assert!(ask("GET", "/etc/passwd").starts_with("HTTP/1.1 404 Not Found\r\n"));
        let m = ask("GET", "/metrics");
        assert!(m.contains("Content-Type: text/plain; version=0.0.4"), "{m}");
        assert!(m.contains("piranha_up{daemon=\"lvsd\"} 0\n"), "{m}");
        let head = ask("HEAD", "/");
        let (headers, body) = head.split_once("\r\n\r\n").unwrap();
        assert!(body.is_empty());
        let length: usize = headers
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(length > 500, "HEAD tells the GET's length: {length}");
        let j = ask("GET", "/status.json");
        let body = j.split_once("\r\n\r\n").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(v["lvsd_error"].as_str().unwrap().contains("lvs.sock"));
    }
}
