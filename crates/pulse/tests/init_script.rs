//! `init.d/pulse` run for real: in a chroot holding the built pulse (with the libraries
//! it links), busybox (no Red Hat `functions`: the script's own fallbacks), a stand-in
//! lvsd, lvs.cf and /etc/sysconfig/pulse, inside fresh network, mount and pid namespaces
//! (a veth interface holds the primary's address). One shell run goes through the
//! actions and prints each exit status; the test reads them back.

use std::path::Path;
use std::process::Command;

use testbed::tools::run;
use testbed::TempDir;

const LVS_CF: &str = "serial_no = 1\nprimary = 192.0.2.10\nservice = lvs\nbackup_active = 0\n\
heartbeat = 1\nkeepalive = 0.2\ndeadtime = 0.6\nnetwork = direct\n\
virtual web {\n active = 1\n address = 192.0.2.100 d0:1\n vip_nmask = 255.255.255.0\n port = 80\n\
 server a {\n  address = 192.0.2.20\n  active = 1\n }\n}\n";

/// A stand-in lvsd: says it started, notes each SIGHUP, leaves on SIGTERM.
const LVSD: &str = "#!/bin/sh\necho started >> /var/run/lvsd.log\n\
trap 'echo hup >> /var/run/lvsd.log' HUP\ntrap 'exit 0' TERM\nwhile :; do sleep 0.1; done\n";

/// Every action, each followed by `rc N`, with what it left behind.
const STEPS: &str = r#"
s=/etc/init.d/pulse
wait_for() { i=0; while [ $i -lt 50 ]; do eval "$1" && return 0; sleep 0.1; i=$((i+1)); done; return 1; }
echo "== status stopped"; $s status; echo "rc $?"
echo "== start"; $s start; echo "rc $?"
[ -f /var/lock/subsys/pulse ] && echo "lock present"
wait_for 'grep -q started /var/run/lvsd.log 2>/dev/null' && echo "lvsd started"
echo "== status running"; $s status; echo "rc $?"
first=$(cat /var/run/pulse.pid)
echo "cmdline: $(tr '\0' ' ' < /proc/$first/cmdline)"
echo "== start again"; $s start; echo "rc $?"
[ "$(cat /var/run/pulse.pid)" = "$first" ] && echo "same pid"
echo "== reload"; $s reload; echo "rc $?"
wait_for 'grep -q hup /var/run/lvsd.log' && echo "lvsd got SIGHUP"
echo "== condrestart running"; $s condrestart; echo "rc $?"
wait_for '[ -s /var/run/pulse.pid ] && [ "$(cat /var/run/pulse.pid)" != "$first" ]' && echo "new pid"
echo "== stop"; $s stop; echo "rc $?"
[ -f /var/lock/subsys/pulse ] || echo "lock removed"
[ -f /var/run/pulse.pid ] || echo "pid file removed"
echo "== status after stop"; $s status; echo "rc $?"
echo "== stop again"; $s stop; echo "rc $?"
echo "== reload stopped"; $s reload; echo "rc $?"
echo "== condrestart stopped"; $s condrestart; echo "rc $?"
[ -f /var/run/pulse.pid ] || echo "still stopped"
echo "== restart"; $s restart; echo "rc $?"
echo "== killed"; kill -9 "$(cat /var/run/pulse.pid)"; sleep 0.3; $s status; echo "rc $?"
rm -f /var/run/pulse.pid
echo "== locked"; $s status; echo "rc $?"
rm -f /var/lock/subsys/pulse
sleep 100 & bystander=$!
echo "$bystander" > /var/run/pulse.pid
echo "== stale"; $s status; echo "rc $?"; $s stop; kill -0 "$bystander" && echo "bystander alive"
kill "$bystander"
rm -f /var/run/pulse.pid
echo "== usage"; $s frobnicate; echo "rc $?"
mv /etc/sysconfig/ha/lvs.cf /etc/sysconfig/ha/lvs.cf.away
echo "== no config"; $s start; echo "rc $?"
mv /etc/sysconfig/ha/lvs.cf.away /etc/sysconfig/ha/lvs.cf
mv /usr/sbin/pulse /usr/sbin/pulse.away
echo "== no binary"; $s status; echo "rc $?"
"#;

/// Copies `file` into `root` at the same path, with the libraries `ldd` names for it.
fn install(root: &Path, file: &Path, at: &str) {
    let dest = root.join(at.trim_start_matches('/'));
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(file, &dest).unwrap();
    let ldd = Command::new("ldd").arg(file).output().unwrap();
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let to = root.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(lib, &to).unwrap();
    }
}

fn chroot_tree(root: &Path) {
    install(root, Path::new("/bin/busybox"), "/bin/busybox");
    for applet in [
        "sh", "cat", "kill", "sleep", "rm", "touch", "mkdir", "dirname", "tr", "grep", "mv",
        "printf", "echo", "true",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    // util-linux's flock, as on every Debian and Red Hat system (Debian's busybox has none).
    install(root, Path::new("/usr/bin/flock"), "/usr/bin/flock");
    install(
        root,
        Path::new(env!("CARGO_BIN_EXE_pulse")),
        "/usr/sbin/pulse",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../init.d/pulse");
    install(root, &script, "/etc/init.d/pulse");
    let files = [
        ("usr/sbin/lvsd", LVSD),
        ("etc/sysconfig/ha/lvs.cf", LVS_CF),
        ("etc/sysconfig/pulse", "OPTIONS=\"-v\"\n"),
        ("steps.sh", STEPS),
    ];
    for (path, text) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    std::fs::set_permissions(
        root.join("usr/sbin/lvsd"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for dir in ["var/run", "proc", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
}

/// The output of STEPS split into `(action, lines)`.
fn steps(out: &str) -> Vec<(String, Vec<String>)> {
    let mut all: Vec<(String, Vec<String>)> = Vec::new();
    for line in out.lines() {
        match line.strip_prefix("== ") {
            Some(name) => all.push((name.to_string(), Vec::new())),
            None => {
                if let Some(last) = all.last_mut() {
                    last.1.push(line.to_string())
                }
            }
        }
    }
    all
}

#[test]
fn the_init_script_starts_stops_reloads_and_reports_with_the_legacy_exit_codes() {
    let d = TempDir::new("init-pulse");
    let root = d.join("root");
    chroot_tree(&root);
    let setup = format!(
        "set -e; ip link set lo up; ip link add d0 type veth peer name d1; ip link set d1 up; \
         ip addr add 192.0.2.10/24 dev d0; ip link set d0 up; \
         mount -t proc proc {r}/proc; mknod {r}/dev/null c 1 3; chmod 666 {r}/dev/null; \
         set +e; chroot {r} /bin/sh /steps.sh",
        r = root.display()
    );
    let out = run(
        Command::new("unshare").args([
            "--net",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "sh",
            "-c",
            &setup,
        ]),
        None,
        std::time::Duration::from_secs(120),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    let all = steps(&text);
    let step = |name: &str| -> Vec<String> {
        all.iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no step {name}: {text}\n{err}"))
            .1
            .clone()
    };
    let rc = |name: &str| -> String {
        step(name)
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("rc ").map(str::to_string))
            .unwrap_or_else(|| panic!("{name}: no rc in {text}"))
    };
    let has = |name: &str, want: &str| {
        assert!(
            step(name).iter().any(|l| l.contains(want)),
            "{name}: `{want}` not in {:?}\n{text}\n{err}",
            step(name)
        )
    };
    assert_eq!(rc("status stopped"), "3");
    has("status stopped", "pulse is stopped");
    assert_eq!(rc("start"), "0", "{text}\n{err}");
    has("start", "Starting pulse: [  OK  ]");
    has("start", "lock present");
    has("start", "lvsd started");
    assert_eq!(rc("status running"), "0");
    has("status running", "is running...");
    // OPTIONS from /etc/sysconfig/pulse reach pulse's command line.
    has("status running", "cmdline: /usr/sbin/pulse -v ");
    assert_eq!(rc("start again"), "0");
    has("start again", "same pid");
    assert_eq!(rc("reload"), "0");
    has("reload", "Reloading pulse: [  OK  ]");
    has("reload", "lvsd got SIGHUP");
    assert_eq!(rc("condrestart running"), "0");
    has("condrestart running", "new pid");
    assert_eq!(rc("stop"), "0");
    has("stop", "Shutting down pulse: [  OK  ]");
    has("stop", "lock removed");
    has("stop", "pid file removed");
    assert_eq!(rc("status after stop"), "3");
    assert_eq!(rc("stop again"), "0");
    assert_eq!(rc("reload stopped"), "7");
    assert_eq!(rc("condrestart stopped"), "0");
    has("condrestart stopped", "still stopped");
    assert_eq!(rc("restart"), "0");
    assert_eq!(rc("killed"), "1");
    has("killed", "pulse dead but pid file exists");
    // A stale pid file naming a live process (a reused pid): not pulse, not stopped.
    assert_eq!(rc("stale"), "1");
    has("stale", "pulse dead but pid file exists");
    has("stale", "bystander alive");
    assert_eq!(rc("locked"), "2");
    has("locked", "pulse dead but subsys locked");
    assert_eq!(rc("usage"), "1");
    has(
        "usage",
        "Usage: pulse {start|stop|status|restart|condrestart|reload}",
    );
    assert_eq!(rc("no config"), "6");
    assert_eq!(rc("no binary"), "5");
}
