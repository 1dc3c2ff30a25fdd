//! `pulse --check-config` end to end: the operator-facing summary, errors, JSON, and the
//! legacy command-line behaviour.

use std::path::PathBuf;
use std::process::{Command, Output};

fn pulse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(args)
        .output()
        .expect("run pulse")
}

fn example() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../lvs.cf.example").to_string()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pulse-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn valid_file_prints_a_summary_and_exits_0() {
    let out = pulse(&["--check-config", "-c", &example()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("configuration OK"));
    assert!(text.contains("primary       192.0.2.10, private 10.11.12.1"));
    assert!(text.contains("virtual www: TCP 192.0.2.100:80 on eth0:1, wlc, persistent 300 s"));
    assert!(text.contains("-> web1         10.0.0.21:8080"));
    assert!(text.contains("virtual shop: FWM 80"));
    assert!(text.contains("inactive: server web3 of www, virtual staging"));
    assert!(text.lines().count() < 50, "one screen");
}

#[test]
fn every_option_spelling_reaches_the_file() {
    for args in [
        vec!["--check-config", "--configfile", example().leak() as &str],
        vec![
            "--check-config",
            format!("--configfile={}", example()).leak(),
        ],
        vec![format!("-c{}", example()).leak(), "--check-config"],
    ] {
        assert_eq!(pulse(&args).status.code(), Some(0), "{args:?}");
    }
}

#[test]
fn broken_file_prints_file_line_and_legacy_text_and_exits_1() {
    let path = temp_file(
        "broken.cf",
        "primary = 10.0.0.1\nvirtual www {\n     prot = tcp\n}\n",
    );
    let out = pulse(&["--check-config", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{}:3:6: error: unknown command", path.display())),
        "{text}"
    );
}

#[test]
fn semantic_errors_fail_the_check() {
    let path = temp_file(
        "timeout0.cf",
        "primary = 10.0.0.1\nvirtual www {\n active = 1\n address = 10.0.0.100 eth0:1\n timeout = 0\n}\n",
    );
    let out = pulse(&["--check-config", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("timeout of virtual www is 0"));
}

#[test]
fn pulse_requires_primary() {
    let path = temp_file(
        "noprimary.cf",
        "virtual www {\n active = 1\n address = 10.0.0.100 eth0:1\n}\n",
    );
    let out = pulse(&["--check-config", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("error: primary is not set"));
}

#[test]
fn json_is_the_parsed_model() {
    let out = pulse(&["--check-config", "--json", "-c", &example()]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["ok"], true);
    let c = &doc["config"];
    assert_eq!(c["primary"]["addr"], "192.0.2.10");
    assert_eq!(c["keepalive"], 2.0);
    assert_eq!(c["network"], "nat");
    assert_eq!(c["nat_router"]["device"], "eth1:1");
    let www = &c["virtuals"][0];
    assert_eq!(www["name"], "www");
    assert_eq!(www["sorry_server"]["addr"], "10.0.0.99");
    assert_eq!(www["send"]["quote"], "\"");
    assert_eq!(www["servers"][1]["address"]["addr"], "10.0.0.22");
    assert_eq!(www["servers"][1]["weight"], 100);
}

#[test]
fn json_carries_diagnostics_when_the_file_fails() {
    let path = temp_file("bad.cf", "keepalive = 080\n");
    let out = pulse(&["--check-config", "--json", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    assert!(doc["config"].is_null());
    let d = &doc["diagnostics"][0];
    assert_eq!(
        (d["severity"].as_str(), d["code"].as_str()),
        (Some("error"), Some("int_expected"))
    );
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(1), Some(13))
    );
    assert_eq!(d["message"], "integer expected");
}

#[test]
fn missing_file_is_an_error_not_a_crash() {
    let out = pulse(&["--check-config", "-c", "/nonexistent/lvs.cf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("/nonexistent/lvs.cf: error: I/O error while reading configuration")
    );
}

#[test]
fn legacy_option_errors() {
    let out = pulse(&["--bogus"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "pulse: bad argument --bogus: unknown option"
    );
    let out = pulse(&["extra"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "pulse: unexpected arguments"
    );
}

#[test]
fn legacy_options_are_accepted() {
    // All legacy options parse (the daemon itself is not part of this release).
    let out = pulse(&[
        "-n",
        "-t",
        "-v",
        "--forceactive",
        "--lvs=/x",
        "--lvsd",
        "/x",
        "--fos=/y",
        "--norun",
        "--help",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("Usage: pulse"));
}

#[test]
fn version_has_the_legacy_layout() {
    let out = pulse(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with("Program Version:\tpulse 1.56\nBuilt:\t\t\t"),
        "{text}"
    );
    assert!(text.contains("A component of:\t\tpiranha-0.8.6-1"));
}

#[test]
fn shared_scsi_keywords_are_read_and_said_to_be_unsupported() {
    let path = temp_file(
        "fos-scsi.cf",
        "service = fos\nprimary = 192.0.2.10\nbackup = 192.0.2.11\nbackup_active = 1\n\
         primary_shared = /dev/sdb\nbackup_shared = /dev/sdb\n\
         reservation_conflict_action = preempt\n\
         failover web {\n active = 1\n address = 192.0.2.100 eth0:1\n port = 80\n\
         start_cmd = \"/bin/true\"\n stop_cmd = \"/bin/true\"\n}\n",
    );
    let out = pulse(&["--check-config", "-c", path.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning, not an error: {text}"
    );
    assert!(
        text.contains("shared SCSI reservation (primary_shared, backup_shared) is not supported"),
        "{text}"
    );
    let json = pulse(&["--check-config", "--json", "-c", path.to_str().unwrap()]);
    let model: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(model["config"]["primary_shared"], "/dev/sdb", "{model}");
    assert_eq!(
        model["config"]["reservation_conflict_action"], "preempt",
        "{model}"
    );
}
