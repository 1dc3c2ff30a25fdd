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

/// Runs `cmd` with `input` on its stdin, killed after `limit`. Its output is read while it
/// runs, so a chatty child (Chromium logs a lot) never blocks on a full pipe.
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
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = feeder.join();
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = pipe.read_to_end(&mut all);
        all
    })
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
///
/// In the VM (software-emulated CPUs) one Chromium run takes 30–120 s, and CI saw a run
/// end without its screenshot and without saying why; so it gets up to three runs, and a
/// failure shows how each ended. What the picture shows is the caller's to check.
pub fn screenshot(url: &str, width: u32, height: u32) -> Vec<u8> {
    let mut failures = Vec::new();
    for attempt in 1..=3 {
        let dir = crate::TempDir::new("chromium");
        let png = dir.join("shot.png");
        let out = run(
            Command::new("chromium").args(chromium_args(&dir, &png, url, width, height)),
            None,
            Duration::from_secs(300),
        );
        match std::fs::read(&png) {
            Ok(bytes) => return bytes,
            Err(e) => failures.push(format!(
                "run {attempt}: {} and no screenshot ({e})\nstdout: {}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }
    panic!(
        "chromium made no screenshot of {url}:\n{}",
        failures.join("\n")
    )
}

/// No background connections (the network is closed: they would be refused), a fresh
/// profile, no scroll bars in the picture.
fn chromium_args(
    dir: &crate::TempDir,
    png: &std::path::Path,
    url: &str,
    width: u32,
    height: u32,
) -> Vec<String> {
    let fixed = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ];
    let mut args: Vec<String> = fixed.iter().map(|a| a.to_string()).collect();
    args.push(format!("--user-data-dir={}", dir.join("profile").display()));
    args.push(format!("--window-size={width},{height}"));
    args.push(format!("--screenshot={}", png.display()));
    args.push(url.to_string());
    args
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_that_writes_more_than_a_pipe_holds_is_not_stalled() {
        // 1 MiB on each stream is many pipe buffers: unread, the child would block
        // until the limit and `run` would panic.
        let out = run(
            Command::new("sh").args([
                "-c",
                "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2",
            ]),
            None,
            Duration::from_secs(20),
        );
        assert!(out.status.success());
        assert_eq!((out.stdout.len(), out.stderr.len()), (1 << 20, 1 << 20));
    }
}
