//! The control channel every daemon offers its operator (`lvsctl`): a Unix socket beside
//! the pid file, mode 0600, answering root (or the daemon's own user) only. The protocol
//! is JSON lines (docs/control.md): one request object with a `command` per line, one
//! response object per line, `{"ok": false, "error": "..."}` for a request that cannot be
//! answered.
//!
//! The daemon must keep working whatever a client does, so everything is bounded and
//! non-blocking: a few clients at a time, a request line of at most 4 KiB, the pending
//! answers of a client that does not read (error answers included) at most 16 MiB, at
//! most [`MAX_OUTSTANDING`] requests waiting, and a client that neither asks nor reads
//! goes after a time limit. The server only moves bytes; what a command means is
//! the daemon's business (it answers [`Request`]s with [`ControlServer::reply`]).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::sys::stat::{umask, Mode};
use serde_json::{json, Value};

use crate::event_loop::EventLoop;

/// Clients served at once; one more is told so and closed.
pub const MAX_CLIENTS: usize = 16;
/// The longest request line, its newline not counted.
pub const MAX_REQUEST: usize = 4096;
/// The most answer bytes held for a client that does not read.
pub(crate) const MAX_PENDING: usize = 16 << 20;
/// Requests of one client waiting for their answers; one more is refused and the client
/// goes (no operator's tool pipelines that many; a flood must not grow the daemon).
pub const MAX_OUTSTANDING: usize = 256;
/// What a refused client, or one past a fatal error, may still send (read and dropped,
/// so that closing does not reset the connection before it has read why) before it goes.
const MAX_DISCARD: usize = 64 << 10;
/// A client with nothing pending and no request goes after this long.
pub(crate) const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// A client that reads nothing of a pending answer for this long goes.
pub(crate) const STALL_LIMIT: Duration = Duration::from_secs(5);

/// Which client a request came from (to answer it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ClientId(usize);

/// One request: its `command` and the whole object (for the command's arguments).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Request {
    pub client: ClientId,
    pub command: String,
    pub body: Value,
}

/// The answer to a request that cannot be served.
pub fn error(text: impl Into<String>) -> Value {
    json!({ "ok": false, "error": text.into() })
}

/// The answer to a command the daemon does not know.
pub fn unknown(command: &str) -> Value {
    error(format!("unknown command {command:?}"))
}

/// The answer to `status`: `value`'s fields, the daemon's own figures as `"process"`
/// ([`crate::vitals`]) and `"ok": true`.
pub fn status(value: &impl serde::Serialize) -> Value {
    let mut v = ok(value);
    v["process"] = serde_json::to_value(crate::vitals::Vitals::read()).unwrap_or(Value::Null);
    v
}

/// A served request's answer: `value`'s fields and `"ok": true`.
pub fn ok(value: &impl serde::Serialize) -> Value {
    let mut v = serde_json::to_value(value).unwrap_or_else(|_| json!({}));
    v["ok"] = true.into();
    v
}

struct Client {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Bytes of `output` already written.
    written: usize,
    last_progress: Instant,
    watching_writable: bool,
    /// Close once the output is written (refused clients, protocol errors, a client
    /// that has said all it will: `echo '{...}' | socat`).
    closing: bool,
    /// Requests handed to the daemon and not answered yet.
    outstanding: usize,
    /// Not permitted: told so, its words discarded until it goes (closing at once would
    /// reset the connection and lose the answer) or the idle limit.
    refused: bool,
    /// More answers waited for it than [`MAX_PENDING`], or it sent more than
    /// [`MAX_DISCARD`] after it was told to go: it goes at once.
    overflowed: bool,
    /// Bytes dropped since it was refused or told to go.
    discarded: usize,
    /// Closed once its output is written, answers still to come or not.
    hang_up: bool,
}

pub struct ControlServer {
    path: PathBuf,
    listener: UnixListener,
    first_token: usize,
    clients: HashMap<usize, Client>,
    idle_limit: Duration,
    stall_limit: Duration,
}

impl ControlServer {
    /// Creates the socket at `path` (a stale socket there is replaced; anything else, a
    /// symlink included, is refused; so is a socket a running daemon answers on) and
    /// watches it with `first_token`; clients get the tokens after it, up to
    /// [`MAX_CLIENTS`].
    pub fn bind(path: &Path, first_token: usize, events: &EventLoop) -> io::Result<Self> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => {
                if UnixStream::connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("{} is in use by a running daemon", path.display()),
                    ));
                }
                std::fs::remove_file(path)?;
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // Mode 0600 from the start: no moment in which another user could connect.
        let old = umask(Mode::from_bits_truncate(0o177));
        let bound = UnixListener::bind(path);
        umask(old);
        let listener = bound?;
        listener.set_nonblocking(true)?;
        events.register(&listener, first_token)?;
        Ok(ControlServer {
            path: path.to_path_buf(),
            listener,
            first_token,
            clients: HashMap::new(),
            idle_limit: IDLE_LIMIT,
            stall_limit: STALL_LIMIT,
        })
    }

    /// Other time limits than [`IDLE_LIMIT`] and [`STALL_LIMIT`] (tests).
    pub fn set_limits(&mut self, idle: Duration, stall: Duration) {
        self.idle_limit = idle;
        self.stall_limit = stall;
    }

    /// The daemon's socket, `PID_FILE` with the extension `.sock`; a daemon runs
    /// without one (saying why in its log) rather than not at all.
    pub(crate) fn beside_pid_file(
        pid_file: &Path,
        first_token: usize,
        events: &EventLoop,
    ) -> Option<Self> {
        let path = pid_file.with_extension("sock");
        ControlServer::bind(&path, first_token, events)
            .map_err(|e| log::info!("no control socket {}: {e}", path.display()))
            .ok()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `token` is the listener's or one of its clients'.
    pub fn owns(&self, token: usize) -> bool {
        (self.first_token..=self.first_token + MAX_CLIENTS).contains(&token)
    }

    /// Handles readiness of one of its tokens: accepts, reads, writes; returns the
    /// complete requests read.
    pub fn ready(&mut self, token: usize, events: &EventLoop, now: Instant) -> Vec<Request> {
        if token == self.first_token {
            self.accept(events, now);
            return Vec::new();
        }
        let mut requests = Vec::new();
        if let Some(c) = self.clients.get_mut(&token) {
            if !Self::read(c, ClientId(token), now, &mut requests) {
                c.closing = true;
            }
            if c.overflowed {
                self.close(token, events);
                return Vec::new();
            }
            c.outstanding += requests.len();
        }
        self.flush(token, events, now);
        requests
    }

    /// Queues `response` (one line) for the client; a client gone meanwhile is ignored.
    pub fn reply(&mut self, client: ClientId, response: &Value, events: &EventLoop, now: Instant) {
        let Some(c) = self.clients.get_mut(&client.0) else {
            return;
        };
        c.outstanding = c.outstanding.saturating_sub(1);
        Self::queue(c, response);
        if c.overflowed {
            // It reads nothing of what it asked for: it goes, the daemon goes on.
            return self.close(client.0, events);
        }
        self.flush(client.0, events, now);
    }

    /// Closes the clients past their time limits.
    pub fn expire(&mut self, events: &EventLoop, now: Instant) {
        let late: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| now >= self.limit(c))
            .map(|(t, _)| *t)
            .collect();
        for t in late {
            self.close(t, events);
        }
    }

    /// When the next client reaches its time limit.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.clients.values().map(|c| self.limit(c)).min()
    }

    /// How many clients are connected.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    fn limit(&self, c: &Client) -> Instant {
        if c.written < c.output.len() {
            c.last_progress + self.stall_limit
        } else {
            c.last_progress + self.idle_limit
        }
    }

    fn accept(&mut self, events: &EventLoop, now: Instant) {
        while let Ok((stream, _)) = self.listener.accept() {
            let free = (1..=MAX_CLIENTS)
                .map(|i| self.first_token + i)
                .find(|t| !self.clients.contains_key(t));
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let Some(token) = free else {
                // Best effort: one short line to a socket that has room for it.
                let mut s = stream;
                let line = format!("{}\n", error("too many control clients; try again"));
                let _ = s.write(line.as_bytes());
                continue;
            };
            if events.register(&stream, token).is_err() {
                continue;
            }
            let mut client = Client {
                stream,
                input: Vec::new(),
                output: Vec::new(),
                written: 0,
                last_progress: now,
                watching_writable: false,
                closing: false,
                outstanding: 0,
                refused: false,
                overflowed: false,
                discarded: 0,
                hang_up: false,
            };
            if !Self::permitted(&client.stream) {
                client.refused = true;
                let line = format!("{}\n", error("permission denied: root only"));
                client.output.extend_from_slice(line.as_bytes());
            }
            self.clients.insert(token, client);
            self.flush(token, events, now);
        }
    }

    /// Root, or the user the daemon runs as (tests); the socket's mode says the same.
    fn permitted(stream: &UnixStream) -> bool {
        match getsockopt(stream, PeerCredentials) {
            Ok(cred) => cred.uid() == 0 || cred.uid() == nix::unistd::geteuid().as_raw(),
            Err(_) => false,
        }
    }

    /// Reads what is there; complete lines become requests (or error answers). False
    /// when the client has closed its side (or the connection failed): a last request
    /// without its newline is taken then, as `printf '{...}' | socat` sends it.
    fn read(c: &mut Client, id: ClientId, now: Instant, requests: &mut Vec<Request>) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    if !c.refused && !c.closing && !c.input.is_empty() {
                        let last = std::mem::take(&mut c.input);
                        Self::line(c, id, &last, requests);
                    }
                    return false;
                }
                Ok(n) => {
                    c.last_progress = now;
                    if c.refused || c.closing {
                        // Not read: refused, or past a fatal error.
                        c.discarded += n;
                        c.overflowed |= c.discarded > MAX_DISCARD;
                        if c.overflowed {
                            return true;
                        }
                        continue;
                    }
                    c.input.extend_from_slice(&buf[..n]);
                    Self::lines(c, id, requests);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }

    /// The complete lines of the input; what is left must still fit in a request.
    fn lines(c: &mut Client, id: ClientId, requests: &mut Vec<Request>) {
        while let Some(end) = c.input.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = c.input.drain(..=end).collect();
            Self::line(c, id, &line[..line.len() - 1], requests);
            if c.closing {
                c.input.clear();
                return;
            }
        }
        if c.input.len() > MAX_REQUEST {
            Self::too_long(c);
        }
    }

    /// One request line (without its newline): a request, or an error answer.
    fn line(c: &mut Client, id: ClientId, line: &[u8], requests: &mut Vec<Request>) {
        if line.len() > MAX_REQUEST {
            return Self::too_long(c);
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if c.outstanding + requests.len() >= MAX_OUTSTANDING {
            let text = format!("more than {MAX_OUTSTANDING} requests wait for their answers");
            Self::queue(c, &error(text));
            c.closing = true;
            c.hang_up = true;
            return;
        }
        match parse(line) {
            Ok((command, body)) => requests.push(Request {
                client: id,
                command,
                body,
            }),
            Err(text) => Self::queue(c, &error(text)),
        }
    }

    fn too_long(c: &mut Client) {
        Self::queue(
            c,
            &error(format!("request longer than {MAX_REQUEST} bytes")),
        );
        c.input.clear();
        c.closing = true;
    }

    /// Queues one answer line. Every answer counts against [`MAX_PENDING`], error
    /// answers too: a client that asks and never reads goes once that much waits for it
    /// (its words are no longer read), and the daemon goes on.
    fn queue(c: &mut Client, answer: &Value) {
        let mut line = answer.to_string().into_bytes();
        line.push(b'\n');
        if c.output.len() - c.written + line.len() > MAX_PENDING {
            c.overflowed = true;
            c.closing = true;
            return;
        }
        c.output.extend_from_slice(&line);
    }

    /// Writes what the socket takes; watches for writability while output remains.
    fn flush(&mut self, token: usize, events: &EventLoop, now: Instant) {
        let Some(c) = self.clients.get_mut(&token) else {
            return;
        };
        while c.written < c.output.len() {
            match c.stream.write(&c.output[c.written..]) {
                Ok(0) => break,
                Ok(n) => {
                    c.written += n;
                    c.last_progress = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(token, events),
            }
        }
        if c.written == c.output.len() {
            c.output.clear();
            c.written = 0;
            if c.closing && (c.outstanding == 0 || c.hang_up) {
                return self.close(token, events);
            }
        }
        let want = c.written < c.output.len();
        if want != c.watching_writable && events.watch_writable(&c.stream, token, want).is_ok() {
            c.watching_writable = want;
        }
    }

    fn close(&mut self, token: usize, events: &EventLoop) {
        if let Some(c) = self.clients.remove(&token) {
            let _ = events.deregister(&c.stream);
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One request line: a JSON object with a string `command`.
fn parse(line: &[u8]) -> Result<(String, Value), String> {
    let body: Value =
        serde_json::from_slice(line).map_err(|e| format!("malformed request: {e}"))?;
    let command = body
        .get("command")
        .and_then(Value::as_str)
        .ok_or("malformed request: no \"command\" string")?
        .to_string();
    Ok((command, body))
}

/// The client side, for `lvsctl` and the tests: one request, one answer line, within
/// `limit`.
pub fn ask(path: &Path, request: &Value, limit: Duration) -> io::Result<Value> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(limit))?;
    s.set_write_timeout(Some(limit))?;
    s.write_all(format!("{request}\n").as_bytes())?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + limit;
    while !answer.ends_with(b"\n") {
        if Instant::now() >= deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"));
        }
        if answer.len() > MAX_PENDING {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "answer too long",
            ));
        }
        match s.read(&mut buf)? {
            0 => break,
            n => answer.extend_from_slice(&buf[..n]),
        }
    }
    serde_json::from_slice(&answer).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
