//! The HTTP listener's bounds, on loopback: a client that never sends holds up no one and
//! is closed at the head limit, idle connections past the limit cannot lock a scraper
//! out, a request head past its limit is refused, and what it serves comes over real
//! sockets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use status_view::http::{StatusListener, HEAD_LIMIT, MAX_CLIENTS, MAX_REQUEST};
use status_view::Sockets;

fn listener() -> StatusListener {
    let nowhere = Sockets {
        pulse: "/nonexistent/pulse.sock".into(),
        lvsd: "/nonexistent/lvs.sock".into(),
    };
    StatusListener::start("127.0.0.1:0".parse().unwrap(), nowhere).unwrap()
}

/// Sends `request` and reads the whole answer (the server closes after it).
fn exchange(l: &StatusListener, request: &[u8]) -> String {
    let mut s = TcpStream::connect(l.address()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A scraper's GET /metrics: the answer and how long it took.
fn scrape(l: &StatusListener) -> (String, Duration) {
    let start = Instant::now();
    let m = exchange(l, b"GET /metrics HTTP/1.1\r\n\r\n");
    (m, start.elapsed())
}

#[test]
fn serves_the_three_routes_and_refuses_the_rest() {
    let l = listener();
    let m = exchange(&l, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(m.starts_with("HTTP/1.1 200 OK\r\n"), "{m}");
    assert!(m.contains("\r\n\r\n# HELP piranha_up "), "{m}");
    let page = exchange(&l, b"GET / HTTP/1.0\r\n\r\n");
    assert!(page.contains("Content-Type: text/html"), "{page}");
    assert!(page.contains("lvsd is not answering"), "{page}");
    assert!(exchange(&l, b"DELETE / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
    assert!(exchange(&l, b"GET /x HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    assert!(exchange(&l, b"hello\r\n\r\n").starts_with("HTTP/1.1 400 "));
    let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_REQUEST));
    assert!(exchange(&l, long.as_bytes()).starts_with("HTTP/1.1 431 "));
}

#[test]
fn a_silent_client_holds_up_no_one_and_is_closed_at_the_head_limit() {
    let l = listener();
    let mut silent = TcpStream::connect(l.address()).unwrap();
    let start = Instant::now();
    let (m, took) = scrape(&l);
    assert!(m.starts_with("HTTP/1.1 200 "), "{m}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    silent
        .set_read_timeout(Some(HEAD_LIMIT + Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = silent.read(&mut buf).unwrap_or(0);
    let waited = start.elapsed();
    assert_eq!(n, 0, "closed without an answer");
    assert!(
        waited >= HEAD_LIMIT - Duration::from_millis(500)
            && waited < HEAD_LIMIT + Duration::from_secs(2),
        "closed after {waited:?}"
    );
}

#[test]
fn idle_connections_past_the_limit_never_lock_a_scraper_out() {
    let l = listener();
    // Three times as many idle peers as there are places, some sending half a request.
    let mut idle: Vec<TcpStream> = Vec::new();
    for round in 0..3 {
        for i in 0..MAX_CLIENTS {
            let mut s = TcpStream::connect(l.address()).unwrap();
            if i % 2 == 0 {
                let _ = s.write_all(b"GET / HTTP/1.1\r\n");
            }
            idle.push(s);
        }
        std::thread::sleep(Duration::from_millis(100));
        // A scraper is served at once, every round.
        let (m, took) = scrape(&l);
        assert!(m.starts_with("HTTP/1.1 200 "), "round {round}: {m:?}");
        assert!(took < Duration::from_secs(1), "round {round}: {took:?}");
    }
    // The oldest idle ones gave their places away: closed, unanswered.
    let mut first = idle.remove(0);
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(first.read(&mut [0u8; 16]).unwrap_or(0), 0);
}

#[test]
fn dropping_the_listener_stops_it_and_frees_the_port() {
    let l = listener();
    let address = l.address();
    drop(l);
    assert!(
        TcpStream::connect(address).is_err(),
        "nothing listens any more"
    );
    let again = StatusListener::start(address, Sockets::default()).unwrap();
    assert_eq!(again.address(), address);
}
