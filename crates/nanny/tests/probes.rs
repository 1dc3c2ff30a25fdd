//! Probes against real servers on loopback that the tests start: healthy, slow,
//! half-open, short reads, wrong banner, crashing; TCP and UDP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use nanny::expect::Expect;
use nanny::probe::NetProbe;

/// A TCP server on loopback that handles each connection with `f`, in a thread.
fn tcp_server(f: impl Fn(std::net::TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let f = std::sync::Arc::new(f);
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            let f = f.clone();
            thread::spawn(move || f(s));
        }
    });
    addr
}

fn probe(
    target: SocketAddr,
    send: Option<&str>,
    expect: Option<&str>,
    regex: bool,
    timeout_ms: u64,
) -> NetProbe {
    NetProbe {
        target,
        protocol: ipvs::Protocol::Tcp,
        send: send.map(|s| s.as_bytes().to_vec()),
        expect: expect.map(|e| Expect::new(e, regex).unwrap()),
        timeout: Duration::from_millis(timeout_ms),
    }
}

fn http_ok(mut s: std::net::TcpStream) {
    let mut buf = [0u8; 1024];
    let _ = s.read(&mut buf);
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
}

#[test]
fn healthy_http_server_passes() {
    let a = tcp_server(http_ok);
    assert_eq!(
        probe(
            a,
            Some("GET / HTTP/1.0\r\n\r\n"),
            Some("HTTP/1.1 200"),
            false,
            2000
        )
        .run()
        .map_err(|e| e.0),
        Ok(())
    );
    assert_eq!(
        probe(
            a,
            Some("GET / HTTP/1.0\r\n\r\n"),
            Some("HTTP/1.[01] 200"),
            true,
            2000
        )
        .run()
        .map_err(|e| e.0),
        Ok(())
    );
    assert_eq!(
        probe(a, Some("GET / HTTP/1.0\r\n\r\n"), Some("*"), false, 2000)
            .run()
            .map_err(|e| e.0),
        Ok(())
    );
    // Connect only.
    assert_eq!(
        probe(a, None, None, false, 2000).run().map_err(|e| e.0),
        Ok(())
    );
}

#[test]
fn refused_connection_fails_at_once() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    let start = Instant::now();
    let r = probe(a, None, None, false, 5000).run().map_err(|e| e.0);
    assert!(r.unwrap_err().starts_with("CONNECT to 127.0.0.1:"));
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn slow_server_times_out_within_the_deadline() {
    let a = tcp_server(|mut s| {
        thread::sleep(Duration::from_secs(3));
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
    });
    let start = Instant::now();
    let r = probe(a, Some("GET /\r\n"), Some("HTTP"), false, 400)
        .run()
        .map_err(|e| e.0);
    assert_eq!(r, Err(format!("READ to {a} timed out")));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

#[test]
fn half_open_server_that_accepts_and_says_nothing_times_out() {
    let a = tcp_server(|s| {
        thread::sleep(Duration::from_secs(3));
        drop(s);
    });
    assert!(probe(a, None, Some("220"), false, 300)
        .run()
        .map_err(|e| e.0)
        .unwrap_err()
        .contains("timed out"));
}

#[test]
fn answer_split_across_segments_is_put_together() {
    // Legacy judged the first read() alone: "HTTP/1" then "1 200" failed.
    let a = tcp_server(|mut s| {
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1");
        let _ = s.flush();
        thread::sleep(Duration::from_millis(100));
        let _ = s.write_all(b".1 200 OK\r\n");
    });
    assert_eq!(
        probe(a, Some("GET /\r\n"), Some("HTTP/1.1 200"), false, 2000)
            .run()
            .map_err(|e| e.0),
        Ok(())
    );
    let r = tcp_server(|mut s| {
        let _ = s.write_all(b"220 mail");
        thread::sleep(Duration::from_millis(100));
        let _ = s.write_all(b" ready");
    });
    assert_eq!(
        probe(r, None, Some("mail ready"), true, 2000)
            .run()
            .map_err(|e| e.0),
        Ok(())
    );
}

#[test]
fn short_answer_then_close_fails_as_too_short() {
    let a = tcp_server(|mut s| {
        let _ = s.write_all(b"HTTP");
    });
    assert_eq!(
        probe(a, None, Some("HTTP/1.1 200"), false, 2000)
            .run()
            .map_err(|e| e.0),
        Err(format!("READ from {a} was too short[4>=12]"))
    );
}

#[test]
fn wrong_banner_fails() {
    let a = tcp_server(|mut s| {
        let _ = s.write_all(b"SSH-2.0-OpenSSH\r\n");
        thread::sleep(Duration::from_secs(2));
    });
    let start = Instant::now();
    let r = probe(a, None, Some("220"), false, 3000)
        .run()
        .map_err(|e| e.0);
    assert_eq!(
        r,
        Err(format!(
            "Trouble. Received results are not what we expected from ({a})"
        ))
    );
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "decided without waiting for the timeout"
    );
}

#[test]
fn crashing_server_fails_even_with_star() {
    // Accepts, then closes without a byte. Legacy's "*" accepted the EOF.
    let a = tcp_server(drop);
    assert!(probe(a, Some("x"), Some("*"), false, 2000)
        .run()
        .map_err(|e| e.0)
        .is_err());
}

fn udp_server(reply: Option<&'static [u8]>) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = s.local_addr().unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((_, from)) = s.recv_from(&mut buf) {
            if let Some(r) = reply {
                let _ = s.send_to(r, from);
            }
        }
    });
    a
}

fn udp(target: SocketAddr, expect: Option<&str>) -> NetProbe {
    NetProbe {
        target,
        protocol: ipvs::Protocol::Udp,
        send: Some(b"ping".to_vec()),
        expect: expect.map(|e| Expect::new(e, false).unwrap()),
        timeout: Duration::from_millis(500),
    }
}

#[test]
fn udp_probes() {
    let pong = udp_server(Some(b"pong"));
    assert_eq!(udp(pong, Some("pong")).run().map_err(|e| e.0), Ok(()));
    // No expect string: any datagram (legacy crashed on a NULL pointer).
    assert_eq!(udp(pong, None).run().map_err(|e| e.0), Ok(()));
    assert!(udp(pong, Some("PONG")).run().map_err(|e| e.0).is_err());
    let silent = udp_server(None);
    assert!(udp(silent, None)
        .run()
        .map_err(|e| e.0)
        .unwrap_err()
        .contains("timed out"));
    // Nothing listening: ICMP port unreachable fails at once.
    let closed = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let start = Instant::now();
    assert!(udp(closed, None).run().map_err(|e| e.0).is_err());
    assert!(start.elapsed() < Duration::from_millis(400));
}
