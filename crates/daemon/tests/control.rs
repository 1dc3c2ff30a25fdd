//! The control socket (daemon::control) against real clients: the protocol, its bounds
//! (malformed and long requests, a client that never reads, one that says nothing), the
//! socket's creation (mode, what may be in its place) and who may use it.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use daemon::control::{self, ControlServer, Request, MAX_REQUEST};
use daemon::event_loop::{EventLoop, Ready};
use serde_json::{json, Value};
use testbed::TempDir;

/// A server on its own thread answering `echo` with its body, `big` with 1 MiB, `hold`
/// never, and anything else as an unknown command.
struct Served {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    /// How many clients the server holds now, and the most it ever held.
    clients: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    thread: Option<JoinHandle<usize>>,
}

impl Served {
    fn start(path: &Path, limits: Option<(Duration, Duration)>) -> Served {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = Arc::new(AtomicUsize::new(0));
        let most_held = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let (p, s, now_held) = (path.to_path_buf(), stop.clone(), clients.clone());
        let ever = most_held.clone();
        let thread = std::thread::spawn(move || {
            let mut events = EventLoop::new(&[libc::SIGWINCH]).unwrap();
            let mut server = ControlServer::bind(&p, 10, &events).unwrap();
            if let Some((idle, stall)) = limits {
                server.set_limits(idle, stall);
            }
            tx.send(()).unwrap();
            let mut most = 0;
            while !s.load(Ordering::Relaxed) {
                let deadline = Instant::now() + Duration::from_millis(20);
                let deadline = server.next_deadline().map_or(deadline, |d| d.min(deadline));
                for r in events.wait(Some(deadline)).unwrap() {
                    if let Ready::Source(t) = r {
                        for req in server.ready(t, &events, Instant::now()) {
                            if let Some(a) = answer(&req) {
                                server.reply(req.client, &a, &events, Instant::now());
                            }
                        }
                    }
                }
                server.expire(&events, Instant::now());
                most = most.max(server.clients());
                now_held.store(server.clients(), Ordering::Relaxed);
                ever.store(most, Ordering::Relaxed);
            }
            most
        });
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        Served {
            path: path.to_path_buf(),
            stop,
            clients,
            most: most_held,
            thread: Some(thread),
        }
    }

    /// Stops the server; the most clients it held at once.
    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(req: &Request) -> Option<Value> {
    Some(match req.command.as_str() {
        "echo" => json!({"ok": true, "echo": req.body}),
        "big" => json!({"ok": true, "data": "x".repeat(1 << 20)}),
        "hold" => return None, // a request the daemon has not answered yet
        other => control::unknown(other),
    })
}

fn ask(path: &Path, request: Value) -> Value {
    control::ask(path, &request, Duration::from_secs(5)).unwrap()
}

/// Sends raw bytes on one connection and reads the answer lines until `lines` came or
/// the server closed.
fn raw(path: &Path, bytes: &[u8], lines: usize) -> (Vec<Value>, bool) {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let mut closed = false;
    while got.iter().filter(|b| **b == b'\n').count() < lines {
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no answer: {e}"),
        }
    }
    let values = got
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    (values, closed)
}

#[test]
fn requests_are_answered_line_by_line_and_errors_name_the_fault() {
    let dir = TempDir::new("control");
    let served = Served::start(&dir.join("d.sock"), None);
    let a = ask(&served.path, json!({"command": "echo", "n": 1}));
    assert_eq!(a["ok"], true);
    assert_eq!(a["echo"]["n"], 1);
    let a = ask(&served.path, json!({"command": "nope"}));
    assert_eq!(a, json!({"ok": false, "error": "unknown command \"nope\""}));
    // On one connection: a malformed line, one without a command, then a good one: each
    // answered, in order, and the connection stays.
    let (answers, _) = raw(
        &served.path,
        b"{not json\n[1,2]\n\n{\"command\":\"echo\"}\n",
        3,
    );
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(answers[0]["error"]
        .as_str()
        .unwrap()
        .starts_with("malformed request:"));
    assert_eq!(
        answers[1]["error"],
        "malformed request: no \"command\" string"
    );
    assert_eq!(answers[2]["ok"], true);
}

#[test]
fn a_request_longer_than_the_limit_is_refused_and_the_connection_closed() {
    let dir = TempDir::new("control");
    let served = Served::start(&dir.join("d.sock"), None);
    let long = vec![b'x'; MAX_REQUEST * 3];
    let (answers, closed) = raw(&served.path, &long, 2);
    assert_eq!(
        answers,
        [json!({"ok": false, "error": format!("request longer than {MAX_REQUEST} bytes")})]
    );
    assert!(closed);
    // The server is fine.
    assert_eq!(ask(&served.path, json!({"command": "echo"}))["ok"], true);
}

/// Asks for `n` MiB on one connection and reads none of it.
fn hog(path: &Path, n: usize) -> UnixStream {
    let mut hog = UnixStream::connect(path).unwrap();
    for _ in 0..n {
        hog.write_all(b"{\"command\":\"big\"}\n").unwrap();
    }
    hog
}

/// Waits (at most 10 s, reading nothing) until the server has held `held` clients at
/// once and now holds none: it closed them.
fn wait_closed(served: &Served, held: usize) {
    let start = Instant::now();
    while served.most.load(Ordering::Relaxed) < held || served.clients.load(Ordering::Relaxed) != 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "a client is still held"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What is left to read on a connection the server closed: the byte count, or a panic
/// when it is still open after 10 s.
fn drain(mut s: UnixStream) -> usize {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) => panic!("the connection was not closed: {e}"),
        }
    }
}

#[test]
fn a_client_that_never_reads_never_holds_up_another_and_goes_after_the_stall_limit() {
    let dir = TempDir::new("control");
    let served = Served::start(
        &dir.join("d.sock"),
        Some((Duration::from_secs(30), Duration::from_secs(2))),
    );
    let slow = hog(&served.path, 10);
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    assert_eq!(ask(&served.path, json!({"command": "echo"}))["ok"], true);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "answered while the hog waits"
    );
    // Closed after the stall limit (2 s), the hog having read nothing.
    let start = Instant::now();
    wait_closed(&served, 2);
    assert!(
        start.elapsed() >= Duration::from_millis(1000),
        "not before the stall limit"
    );
    let left = drain(slow);
    assert!(left < 10 << 20, "closed before all was read: {left} bytes");
    assert!(served.stop() >= 2, "both clients were connected at once");
}

#[test]
fn a_client_asking_past_the_pending_bound_is_closed_at_once() {
    let dir = TempDir::new("control");
    // Limits far away: only the pending bound (16 MiB) can close it.
    let served = Served::start(
        &dir.join("d.sock"),
        Some((Duration::from_secs(60), Duration::from_secs(60))),
    );
    // Asks for 40 MiB and reads nothing (reading would let the server deliver it all
    // within the bound).
    let greedy = hog(&served.path, 40);
    wait_closed(&served, 1);
    let left = drain(greedy);
    assert!(left <= 17 << 20, "read {left} bytes");
    assert_eq!(ask(&served.path, json!({"command": "echo"}))["ok"], true);
}

#[test]
fn a_silent_client_goes_after_the_idle_limit() {
    let dir = TempDir::new("control");
    let served = Served::start(
        &dir.join("d.sock"),
        Some((Duration::from_millis(300), Duration::from_secs(2))),
    );
    let mut s = UnixStream::connect(&served.path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    assert_eq!(s.read(&mut [0u8; 16]).unwrap(), 0, "closed by the server");
    assert!(start.elapsed() >= Duration::from_millis(250));
    assert!(start.elapsed() < Duration::from_secs(3));
}

/// Sends `bytes`, closes the sending side and reads everything the server says.
fn say_and_close(path: &Path, bytes: &[u8]) -> String {
    let mut s = UnixStream::connect(path).unwrap();
    s.write_all(bytes).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = String::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.read_to_string(&mut got).unwrap();
    got
}

#[test]
fn a_client_that_closes_its_side_still_gets_its_answer() {
    let dir = TempDir::new("control");
    let served = Served::start(&dir.join("d.sock"), None);
    let got = say_and_close(&served.path, b"{\"command\":\"echo\"}\n");
    assert!(got.contains("\"ok\":true"), "{got:?}");
}

#[test]
fn the_socket_is_0600_and_never_replaces_what_is_not_a_stale_socket() {
    let dir = TempDir::new("control");
    let path = dir.join("d.sock");
    let events = EventLoop::new(&[libc::SIGWINCH]).unwrap();
    {
        let s = ControlServer::bind(&path, 1, &events).unwrap();
        let mode = std::fs::metadata(s.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A second daemon on the same path is refused while the first answers.
        let e = ControlServer::bind(&path, 30, &events).err().unwrap();
        assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    }
    assert!(!path.exists(), "removed when the server goes");
    // A stale socket (its daemon was killed) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    drop(ControlServer::bind(&path, 1, &events).unwrap());
    // A symlink or a file in its place is refused and left alone.
    let target = dir.join("victim");
    std::fs::write(&target, "keep").unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let e = ControlServer::bind(&path, 1, &events).err().unwrap();
    assert!(e.to_string().contains("is not a socket"), "{e}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    assert!(std::fs::symlink_metadata(&path).unwrap().is_symlink());
}

#[test]
fn only_root_may_ask() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to run a client as another user");
        return;
    }
    let dir = TempDir::new("control");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let served = Served::start(&dir.join("d.sock"), None);
    let as_nobody = |path: &Path| {
        use std::os::unix::process::CommandExt;
        let script = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1])\nexcept OSError as e:\n print('connect:', e.strerror); sys.exit()\ns.sendall(b'{\"command\":\"echo\"}\\n')\ns.settimeout(5)\nprint(s.recv(4096).decode().strip())";
        let out = std::process::Command::new("python3")
            .args(["-c", script, path.to_str().unwrap()])
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // The mode keeps other users out...
    assert_eq!(as_nobody(&served.path), "connect: Permission denied");
    // ...and were it changed, the peer's credentials still do.
    std::fs::set_permissions(&served.path, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(
        as_nobody(&served.path),
        r#"{"error":"permission denied: root only","ok":false}"#
    );
    assert_eq!(ask(&served.path, json!({"command": "echo"}))["ok"], true);
}

/// A request line of `len` bytes (newline not counted): an `echo` padded to length.
fn padded(len: usize) -> Vec<u8> {
    let head = b"{\"command\":\"echo\",\"pad\":\"";
    let mut line = head.to_vec();
    line.resize(len - 2, b'p');
    line.extend_from_slice(b"\"}");
    line
}

#[test]
fn the_request_limit_is_the_documented_one_whatever_the_reads() {
    let dir = TempDir::new("control");
    let served = Served::start(&dir.join("d.sock"), None);
    let mut exact = padded(MAX_REQUEST);
    exact.push(b'\n');
    let (answers, _) = raw(&served.path, &exact, 1);
    assert_eq!(answers[0]["ok"], true, "{MAX_REQUEST} bytes are a request");
    // 6,000 bytes arrive in two reads, the first without the newline: still too long.
    let mut long = padded(6000);
    long.push(b'\n');
    let (answers, closed) = raw(&served.path, &long, 2);
    assert_eq!(
        answers,
        [json!({"ok": false, "error": format!("request longer than {MAX_REQUEST} bytes")})]
    );
    assert!(closed);
}

#[test]
fn a_last_request_without_its_newline_is_answered() {
    let dir = TempDir::new("control");
    let served = Served::start(&dir.join("d.sock"), None);
    let got = say_and_close(&served.path, b"{\"command\":\"echo\",\"n\":7}");
    let v: Value = serde_json::from_str(got.trim()).unwrap();
    assert_eq!(v["echo"]["n"], 7, "{got:?}");
}

/// The resident set of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn error_answers_count_against_the_pending_bound_too() {
    let dir = TempDir::new("control");
    let served = Served::start(
        &dir.join("d.sock"),
        Some((Duration::from_secs(60), Duration::from_secs(60))),
    );
    let before = rss_kib();
    // Malformed lines as fast as the socket takes them, never reading an answer: the
    // server closes it once 16 MiB of error answers wait (the write then fails).
    let mut flood = UnixStream::connect(&served.path).unwrap();
    flood
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let chunk = b"x\n".repeat(32 << 10);
    let start = Instant::now();
    let mut sent = 0usize;
    while flood.write_all(&chunk).is_ok() {
        sent += chunk.len();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "still served after {sent} bytes of malformed requests"
        );
    }
    wait_closed(&served, 1);
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 64 << 10, "the server grew by {grown} KiB");
    // And a client with more requests waiting than may wait is told so and closed.
    let many = b"{\"command\":\"hold\"}\n".repeat(control::MAX_OUTSTANDING + 10);
    let (answers, closed) = raw(&served.path, &many, 2);
    assert!(closed);
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(
        answers[0]["error"],
        format!(
            "more than {} requests wait for their answers",
            control::MAX_OUTSTANDING
        )
    );
    assert_eq!(ask(&served.path, json!({"command": "echo"}))["ok"], true);
}
