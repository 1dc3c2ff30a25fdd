//! `lvsd --check-config`: the same library check as pulse, with lvsd's legacy prefix.

use std::process::{Command, Output};

fn lvsd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(args)
        .output()
        .expect("run lvsd")
}

#[test]
fn checks_the_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../lvs.cf.example");
    let out = lvsd(&["--check-config", "-c", example]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("4 active virtual services, 7 active real servers"));
    let out = lvsd(&["--check-config", "--json", "--configfile", example]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["config"]["virtuals"].as_array().unwrap().len(), 5);
}

#[test]
fn lvsd_does_not_need_primary() {
    let dir = std::env::temp_dir().join(format!("lvsd-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lvsd-only.cf");
    std::fs::write(&path, "virtual www {\n active = 1\n address = 10.0.0.100 eth0:1\n server a {\n address = 10.0.1.1\n active = 1\n }\n}\n").unwrap();
    let out = lvsd(&["--check-config", "-c", path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning: primary is not set"));
}

#[test]
fn legacy_prefix_on_option_errors() {
    let refusal = |args: &[&str]| {
        let out = lvsd(args);
        let text = String::from_utf8_lossy(&out.stderr).trim().to_string();
        (out.status.code(), text)
    };
    let unknown = "lvs: bad argument -x: unknown option";
    assert_eq!(refusal(&["-x"]), (Some(1), unknown.to_string()));
    let missing = "lvs: bad argument -c: missing argument";
    assert_eq!(refusal(&["-c"]).1, missing);
}

#[test]
fn version_has_the_legacy_layout() {
    let out = lvsd(&["--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Program Version:\tlvs 1.38\n"));
}
