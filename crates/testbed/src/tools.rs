//! Outside witnesses for what the daemons serve: Prometheus's own `promtool` for the
//! metrics, headless Chromium for the status page (and a PNG decoder to read its
//! screenshot), a plain HTTP GET. `scripts/test-all` installs them
//! (`scripts/fetch-promtool`, Debian's chromium).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where `scripts/fetch-promtool` puts promtool (or `$PROMTOOL`).
pub fn promtool() -> PathBuf {
    let path = std::env::var_os("PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/piranha-rs-tools/promtool"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-promtool (scripts/test-all does)",
        path.display()
    );
    path
}

/// `promtool check metrics` on `text`: `Err` with its complaints if it has any.
pub fn promtool_check(text: &str) -> Result<(), String> {
    let out = run(
        Command::new(promtool()).args(["check", "metrics"]),
        Some(text.as_bytes()),
        Duration::from_secs(30),
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(said)
    }
}

/// Runs `cmd` with `input` on its stdin, killed after `limit`.
pub fn run(cmd: &mut Command, input: Option<&[u8]>, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.unwrap_or_default().to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = feeder.join();
    child.wait_with_output().unwrap()
}

/// `GET path` from `addr`: the status code, the headers and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_string(), body.to_string())
}

/// A PNG screenshot of `url` by headless Chromium at `width`×`height` (CSS pixels).
pub fn screenshot(url: &str, width: u32, height: u32) -> Vec<u8> {
    let dir = crate::TempDir::new("chromium");
    let png = dir.join("shot.png");
    let out = run(
        Command::new("chromium").args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", dir.join("profile").display()),
            &format!("--window-size={width},{height}"),
            &format!("--screenshot={}", png.display()),
            url,
        ]),
        None,
        Duration::from_secs(120),
    );
    std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "chromium made no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// How many pixels of the PNG `png` are within `tolerance` of `rgb` in every channel.
pub fn pixels_near(png: &[u8], rgb: (u8, u8, u8), tolerance: u8) -> usize {
    let mut decoder = png::Decoder::new(png);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let channels = info.color_type.samples();
    assert!(channels >= 3, "a colour screenshot: {:?}", info.color_type);
    let near = |a: u8, b: u8| a.abs_diff(b) <= tolerance;
    buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| near(p[0], rgb.0) && near(p[1], rgb.1) && near(p[2], rgb.2))
        .count()
}
