//! The nanny binary end to end on the host: foreground logging, the legacy ipvsadm
//! argument lists through a wrapper program (`-I`), signals. IPVS itself is exercised in
//! the VM tests (tests/vm_ipvs.rs).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use testbed::{Daemon, TempDir};

/// nanny under test: `testbed::Daemon` with nanny's command line.
struct Nanny;

impl Nanny {
    fn start(args: &[&str]) -> Daemon {
        Daemon::spawn(
            Command::new(env!("CARGO_BIN_EXE_nanny"))
                .args(args)
                .stderr(Stdio::null()),
        )
    }
}

/// An HTTP-ish server that can be switched off (connections then reset).
fn server() -> (u16, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let up = Arc::new(AtomicBool::new(true));
    let flag = up.clone();
    thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            if flag.load(Ordering::SeqCst) {
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
            }
        }
    });
    (port, up)
}

/// A wrapper "ipvsadm" that appends its arguments to a file: its path, the file, and
/// the directory holding both.
fn wrapper() -> (String, std::path::PathBuf, TempDir) {
    let dir = TempDir::new("nanny-wrapper");
    let log = dir.join("calls");
    let script = dir.script(
        "ipvsadm-wrapper",
        &format!("#!/bin/sh\necho \"$*\" >> {}\n", log.display()),
    );
    (script, log, dir)
}

fn calls(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn lifecycle_with_a_wrapper_program() {
    let (port, up) = server();
    let (wrapper, calls_log, _dir) = wrapper();
    let port_s = port.to_string();
    let n = Nanny::start(&[
        "-c",
        "-h",
        "127.0.0.1",
        "-p",
        "80",
        "-r",
        &port_s,
        "-s",
        r"GET / HTTP/1.0\r\n\r\n",
        "-x",
        "HTTP/1.0 200",
        "-a",
        "2",
        "-I",
        &wrapper,
        "-t",
        "1",
        "-w",
        "64",
        "-V",
        "192.0.2.1",
        "-M",
        "m",
        "-U",
        "none",
        "--nodaemon",
        "--lvs",
    ]);
    let seen = n.wait_for("[ active ] making 127.0.0.1", 10);
    assert_eq!(
        seen[0],
        format!("nanny: starting LVS client monitor for 192.0.2.1:80 -> 127.0.0.1:{port}")
    );
    // Slow start 64 >> 5 = 2.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        calls(&calls_log)[0],
        format!("-a -t 192.0.2.1:80 -r 127.0.0.1:{port} -m -w 2")
    );
    up.store(false, Ordering::SeqCst);
    let seen = n.wait_for(
        &format!("[inactive] shutting down 127.0.0.1:{port} due to connection failure"),
        10,
    );
    // The failed probe is logged first, in legacy's words. The server closes at once:
    // with the request unread the kernel resets ("READ returned error 104:Connection
    // reset by peer"), otherwise the answer is empty ("READ from ... was too short[0>=12]").
    let reset = "nanny: READ returned error 104:Connection reset by peer".to_string();
    let short = format!("nanny: READ from 127.0.0.1:{port} was too short[0>=12]");
    assert!(seen.contains(&reset) || seen.contains(&short), "{seen:?}");
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        calls(&calls_log).last().unwrap(),
        &format!("-d -t 192.0.2.1:80 -r 127.0.0.1:{port}")
    );
    // Back: re-admitted after reentry / interval = 2 good probes.
    up.store(true, Ordering::SeqCst);
    n.wait_for("[ active ] making", 10);
    n.signal(libc::SIGTERM);
    n.wait_for("Terminating due to signal 15", 10);
    let mut child = n;
    assert_eq!(child.wait(), Some(0));
    assert_eq!(
        calls(&calls_log).last().unwrap(),
        &format!("-d -t 192.0.2.1:80 -r 127.0.0.1:{port}"),
        "removed on SIGTERM"
    );
}

#[test]
fn signals_force_the_state() {
    let (port, _up) = server();
    let (wrapper, calls_log, _dir) = wrapper();
    let port_s = port.to_string();
    let n = Nanny::start(&[
        "-h",
        "127.0.0.1",
        "-p",
        &port_s,
        "-a",
        "1",
        "-t",
        "1",
        "-I",
        &wrapper,
        "-V",
        "192.0.2.1",
        "-n",
        "--lvs",
    ]);
    n.wait_for("[ active ]", 10);
    n.signal(libc::SIGUSR1);
    n.wait_for("opaque glasses on", 5);
    thread::sleep(Duration::from_millis(1500));
    let c = calls(&calls_log);
    assert!(c.last().unwrap().starts_with("-d "), "{c:?}");
    n.signal(libc::SIGUSR2);
    n.wait_for("rose-colored glasses on", 5);
    n.signal(libc::SIGHUP);
    n.wait_for("DEBUG -- removing glasses", 5);
}

/// Starts a foreground `--test-start` nanny for 192.0.2.1 and returns what it logged
/// up to the admission of the server.
fn lines_until_active(args: &[&str]) -> Vec<String> {
    let mut full = vec![
        "-h",
        "127.0.0.1",
        "-t",
        "1",
        "-V",
        "192.0.2.1",
        "--test-start",
        "-n",
        "--lvs",
    ];
    full.extend_from_slice(args);
    Nanny::start(&full).wait_for("[ active ]", 10)
}

#[test]
fn legacy_defaults_and_start_up_messages() {
    let (port, _up) = server();
    let port_s = port.to_string();
    // Port 80 without send/expect: the default web check (probing our server's port).
    let seen = lines_until_active(&["-p", "80", "-r", &port_s]);
    assert!(
        seen.iter()
            .any(|l| l == "nanny: no monitor configured, assuming web service on port 80"),
        "{seen:?}"
    );
    let seen = lines_until_active(&["-p", &port_s, "-e", "/bin/true", "-s", "x"]);
    let ignoring =
        "External program use requested: (/bin/true), IGNORING send string option ((null))";
    assert!(seen.iter().any(|l| l.contains(ignoring)), "{seen:?}");
    // Unknown escapes are kept and logged (legacy: endless loop).
    let seen = lines_until_active(&[
        "-p",
        &port_s,
        "-s",
        "GET /\\r\\n",
        "-x",
        r"HTTP/1\.0",
        "--regex",
    ]);
    assert!(
        seen.iter()
            .any(|l| l.contains(r"unknown escape sequence \. kept")),
        "{seen:?}"
    );
}

#[test]
fn command_line_errors_and_version() {
    let no_address = "nanny: No address supplied. Use '--help' for help. \n";
    let refused = testbed::refusal(env!("CARGO_BIN_EXE_nanny"), &["--lvs"]);
    assert_eq!(refused, (Some(1), no_address.to_string()));
    let out = Command::new(env!("CARGO_BIN_EXE_nanny"))
        .args(["--version"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Program Version:\tnanny 1.46\n"));
}

#[test]
fn fos_mode_exits_on_failure() {
    let (port, up) = server();
    let port_s = port.to_string();
    let mut n = Nanny::start(&[
        "-c",
        "-h",
        "127.0.0.1",
        "-V",
        "10.0.0.2",
        "-p",
        &port_s,
        "-s",
        "GET /\\r\\n",
        "-x",
        "HTTP",
        "-t",
        "1",
        "--nodaemon",
        "--fos",
    ]);
    n.wait_for(&format!("Remote service 127.0.0.1:{port} is available"), 10);
    up.store(false, Ordering::SeqCst);
    n.wait_for("Exiting due to connection failure", 10);
    assert_eq!(n.wait(), Some(0));
}

#[test]
fn load_monitor_runs_uptime_over_ssh_and_raises_an_idle_servers_weight() {
    let (port, _up) = server();
    let (wrapper, calls_log, _dir) = wrapper();
    // A fake ssh that records its arguments and prints an idle machine's uptime.
    let dir = calls_log.parent().unwrap().to_path_buf();
    let ssh_args = dir.join("ssh-args");
    let ssh = dir.join("ssh");
    std::fs::write(
        &ssh,
        format!("#!/bin/sh\necho \"$*\" >> {}\necho ' 10:00:00 up 1 day,  load average: 0.00, 0.01, 0.05'\n", ssh_args.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let port_s = port.to_string();
    // weight 2, reentry 19 / interval 1: admitted at 1 and doubled to 2 in the first
    // round; 20 probes later the weight is full, so the load is read: idle, so the
    // weight rises by weight/2 * cbrt(1 - 0) = 1 to 3.
    let mut child = Command::new(env!("CARGO_BIN_EXE_nanny"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port_s,
            "-a",
            "19",
            "-t",
            "1",
            "-w",
            "2",
            "-U",
            "ssh",
            "-I",
            &wrapper,
            "-V",
            "192.0.2.1",
            "-n",
            "--lvs",
        ])
        .env("PATH", path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let ok = (0..300).any(|_| {
        thread::sleep(Duration::from_millis(100));
        calls(&calls_log).iter().any(|c| c.ends_with("-m -w 3"))
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "no load-based weight change: {:?}", calls(&calls_log));
    assert_eq!(
        std::fs::read_to_string(&ssh_args).unwrap().lines().next(),
        Some("127.0.0.1 uptime")
    );
}

#[test]
fn nofork_without_nodaemon_detaches_without_forking() {
    // `-c` alone, as lvsd starts nannies: same process, new session, stdio on /dev/null.
    let (port, _up) = server();
    let port_s = port.to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nanny"))
        .args([
            "-c",
            "-h",
            "127.0.0.1",
            "-p",
            &port_s,
            "-t",
            "1",
            "-V",
            "192.0.2.1",
            "--test-start",
            "--lvs",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let detached = (0..50).any(|_| {
        thread::sleep(Duration::from_millis(100));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        // Fields after the name: state ppid pgrp session ...
        let session = after.split_whitespace().nth(3).unwrap_or("");
        let stdout = std::fs::read_link(format!("/proc/{pid}/fd/1")).unwrap_or_default();
        session == pid.to_string() && stdout == std::path::Path::new("/dev/null")
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "still the same, running process"
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        detached,
        "nanny -c did not start a session with stdio on /dev/null"
    );
}

#[test]
fn status_channel_reports_each_change_and_is_hidden_from_checks() {
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("nanny-status");
    let up = dir.join("up");
    let seen = dir.join("seen");
    let check = dir.script(
        "check",
        &format!(
            "#!/bin/sh\nif [ -e /proc/$$/fd/77 ]; then f=open; else f=closed; fi\n\
             echo \"env=${{LVSD_STATUS_FD:-none}} fd=$f\" > {}\ntest -e {}\n",
            seen.display(),
            up.display()
        ),
    );
    std::fs::write(&up, "").unwrap();

    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors; both close on exec unless dup'ed below.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (r, w) = (fds[0], fds[1]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nanny"));
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        "7",
        "-e",
        &check,
        "-t",
        "1",
        "-a",
        "1",
        "-V",
        "192.0.2.1",
        "--test-start",
        "-n",
        "--lvs",
    ])
    .env(nanny::availability::ENV, "77")
    .stdout(Stdio::null());
    // SAFETY: only async-signal-safe dup2 between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(w, 77) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    // SAFETY: our write end; the child has its own copy.
    unsafe { libc::close(w) };
    // SAFETY: r is ours from here on.
    let mut reader = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(r) };
    let mut read_reports = |n: usize| {
        let mut got = Vec::new();
        let mut lines = daemon::process::LineReader::new(64);
        let mut chunk = [0u8; 64];
        while got.len() < n {
            let k = reader.read(&mut chunk).unwrap();
            assert!(k > 0, "channel closed after {got:?}");
            let reports = lines.push(&chunk[..k]);
            got.extend(
                reports
                    .iter()
                    .filter_map(|l| nanny::availability::Report::decode(l)),
            );
        }
        got
    };
    let pid = child.id();
    assert_eq!(
        read_reports(1),
        [nanny::availability::Report { pid, active: true }]
    );
    std::fs::remove_file(&up).unwrap();
    assert_eq!(
        read_reports(1),
        [nanny::availability::Report { pid, active: false }],
        "one report per change, none while the state holds"
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap().trim(),
        "env=none fd=closed",
        "checks must not see lvsd's channel"
    );
}

#[test]
fn messages_put_an_ipv6_vip_in_brackets_and_carry_no_doubled_prefix() {
    let (port, _up) = server();
    let port_s = port.to_string();
    // -V given twice: the last one counts (popt), an IPv6 VIP.
    let seen = lines_until_active(&["-p", "80", "-r", &port_s, "-V", "2001:db8::80"]);
    assert!(
        seen.contains(&format!(
            "nanny: starting LVS client monitor for [2001:db8::80]:80 -> 127.0.0.1:{port}"
        )),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|l| l.starts_with("nanny: nanny:")),
        "{seen:?}"
    );
}

/// nanny in the foreground with an external check and no IPVS changes.
fn with_check(check: &str, extra: &[&str]) -> Daemon {
    let mut args = vec!["-h", "127.0.0.1", "-p", "7", "-e", check];
    args.extend_from_slice(extra);
    args.extend(["-V", "192.0.2.1", "--test-start", "-n", "--lvs"]);
    Nanny::start(&args)
}

/// The nanny's threads, open descriptors and zombie children.
fn resources(pid: u32) -> (usize, usize, usize) {
    let count = |p: String| std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0);
    let zombies = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid ...
            let after = stat.rsplit_once(") ").map(|(_, a)| a).unwrap_or("");
            let f: Vec<&str> = after.split_whitespace().collect();
            f.first() == Some(&"Z") && f.get(1) == Some(&pid.to_string().as_str())
        })
        .count();
    (
        count(format!("/proc/{pid}/task")),
        count(format!("/proc/{pid}/fd")),
        zombies,
    )
}

#[test]
fn a_signal_is_acted_on_at_once_whatever_a_probe_is_doing() {
    let dir = TempDir::new("nanny-slow");
    // A check that takes 30 s, with a time limit of 20 s (above lvsd's 10 s stop grace).
    let check = dir.script("check", "#!/bin/sh\nsleep 30\n");
    let n = with_check(&check, &["-t", "20"]);
    n.wait_for("starting LVS client monitor", 10);
    std::thread::sleep(Duration::from_millis(500)); // the first probe is running
    let mut latencies = Vec::new();
    for (sig, line) in [
        (libc::SIGUSR1, "opaque glasses on"),
        (libc::SIGHUP, "DEBUG -- removing glasses"),
    ] {
        let t = std::time::Instant::now();
        n.signal(sig);
        n.wait_for(line, 5);
        latencies.push(t.elapsed());
    }
    let check_pid = || {
        Command::new("pgrep")
            .args(["-f", &check])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    assert!(!check_pid().is_empty(), "the check is still running");
    let t = std::time::Instant::now();
    n.signal(libc::SIGTERM);
    n.wait_for("Terminating due to signal 15", 5);
    latencies.push(t.elapsed());
    let mut n = n;
    assert_eq!(n.wait(), Some(0));
    eprintln!("signal to action: {latencies:?}");
    for l in &latencies {
        // 100 ms is the target; the bound leaves room for a loaded test machine.
        assert!(*l < Duration::from_millis(500), "{latencies:?}");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        check_pid().is_empty(),
        "the check's process group went with nanny"
    );
}

#[test]
fn probes_leave_no_thread_descriptor_or_zombie_behind() {
    let dir = TempDir::new("nanny-leak");
    // Its background descendant leaves the process group holding the output pipe.
    let strays = dir.join("strays");
    let check = dir.script(
        "check",
        &format!(
            "#!/bin/sh\nsetsid sleep 30 &\necho $! >> {}\necho OK\n",
            strays.display()
        ),
    );
    let n = with_check(&check, &["-x", "OK", "-t", "1", "-a", "1"]);
    let pid = n.child.id();
    n.wait_for("[ active ]", 10);
    // The least over a few looks: a probe in flight holds a pipe for a moment.
    let settled = || {
        (0..5)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(60));
                resources(pid)
            })
            .min()
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(1500));
    let before = settled();
    // Probes go on, one a second, each leaving a stray `sleep 30`.
    std::thread::sleep(Duration::from_secs(4));
    let after = settled();
    assert_eq!(before, after, "(threads, descriptors, zombies)");
    assert_eq!(after.2, 0, "no zombie");
    assert!(
        !n.printed()
            .iter()
            .any(|l| l.contains("[inactive]") || l.contains("timeout")),
        "{:#?}",
        n.printed()
    );
    let strays = std::fs::read_to_string(&strays).unwrap_or_default();
    assert!(strays.lines().count() >= 4, "the probes ran: {strays}");
    for stray in strays.lines() {
        let _ = Command::new("kill").arg(stray.trim()).status();
    }
}
