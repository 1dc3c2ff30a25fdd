//! Semantic validation (lvscf::validate), separate from syntax.

use lvscf::validate::{has_errors, validate};
use lvscf::*;

const BASE: &str = "primary = 192.168.0.10\nbackup = 192.168.0.11\nbackup_active = 1\n\
                    nat_router = 10.0.0.254 eth1:1\n";

fn check(text: &str) -> Vec<Diagnostic> {
    let parsed =
        parse_str(text, "lvs.cf", &ParseOptions::default()).unwrap_or_else(|f| panic!("{f}"));
    validate(&parsed.config, "lvs.cf")
}

fn vs(name: &str, vip: &str, label: &str, port: u16, extra: &str) -> String {
    format!(
        "virtual {name} {{\n active = 1\n address = {vip} {label}\n port = {port}\n{extra}\
         server a {{\n address = 10.0.0.21\n active = 1\n }}\n}}\n"
    )
}

fn errors(diags: &[Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect()
}

#[test]
fn a_sound_file_has_no_errors() {
    let d = check(&format!(
        "{BASE}{}",
        vs("www", "192.168.0.100", "eth0:1", 80, "")
    ));
    assert!(!has_errors(&d), "{d:?}");
}

#[test]
fn timeout_zero_is_an_error() {
    let d = check(&format!(
        "{BASE}{}",
        vs("www", "192.168.0.100", "eth0:1", 80, " timeout = 0\n")
    ));
    let e = d.iter().find(|d| d.is_error()).unwrap();
    assert!(e.message.contains("timeout of virtual www is 0"));
    assert_eq!(e.line, 5, "points at the virtual block");
    assert!(e.hint.contains("division by zero"));
}

#[test]
fn two_vips_on_one_alias_label_is_an_error() {
    let text = format!(
        "{BASE}{}{}",
        vs("a", "192.168.0.100", "eth0:1", 80, ""),
        vs("b", "192.168.0.101", "eth0:1", 80, "")
    );
    assert!(errors(&check(&text))
        .iter()
        .any(|m| m.contains("interface label eth0:1")));
    // The same VIP on several ports may share its label.
    let text = format!(
        "{BASE}{}{}",
        vs("a", "192.168.0.100", "eth0:1", 80, ""),
        vs("b", "192.168.0.100", "eth0:1", 443, "")
    );
    assert!(!has_errors(&check(&text)));
}

#[test]
fn backup_active_without_backup_is_reported() {
    let d = check(&format!(
        "primary = 1.1.1.1\nbackup = 0.0.0.0\nbackup_active = 1\n{}",
        vs("w", "1.1.1.100", "eth0:1", 80, "")
    ));
    assert!(d
        .iter()
        .any(|d| !d.is_error() && d.message.contains("backup_active = 1 but backup")));
    let c = parse_str(
        "backup = 0.0.0.0\nbackup_active = 1\n",
        "f",
        &ParseOptions::default(),
    )
    .unwrap()
    .config;
    assert!(c.backup_active && !c.effective_backup_active());
}

#[test]
fn no_active_service_of_the_selected_type_is_an_error() {
    let d = check(&format!("{BASE}virtual w {{\n active = 0\n}}\n"));
    assert!(errors(&d).contains(&"no active lvs services defined".to_string()));
    let d = check(&format!(
        "service = fos\n{BASE}{}",
        vs("w", "1.1.1.100", "eth0:1", 80, "")
    ));
    assert!(errors(&d).contains(&"no active fos services defined".to_string()));
}

#[test]
fn duplicate_ipvs_services_and_destinations_are_errors() {
    let text = format!(
        "{BASE}{}{}",
        vs("a", "192.168.0.100", "eth0:1", 80, ""),
        vs("b", "192.168.0.100", "eth0:1", 80, "")
    );
    assert!(errors(&check(&text))
        .iter()
        .any(|m| m.contains("same IPVS service (TCP 192.168.0.100:80)")));
    let text = format!(
        "{BASE}{}",
        vs(
            "a",
            "192.168.0.100",
            "eth0:1",
            80,
            " server b {\n address = 10.0.0.21\n active = 1\n }\n"
        )
    );
    assert!(errors(&check(&text))
        .iter()
        .any(|m| m.contains("same destination 10.0.0.21:80")));
}

#[test]
fn fwmark_services_are_identified_by_mark() {
    let text = format!(
        "{BASE}{}{}",
        vs("a", "192.168.0.100", "eth0:1", 80, " fwmark = 5\n"),
        vs("b", "192.168.0.101", "eth0:2", 81, " fwmark = 5\n")
    );
    assert!(errors(&check(&text)).iter().any(|m| m.contains("FWM 5")));
}

#[test]
fn address_family_mismatch_is_an_error_except_with_tunnels() {
    let text = format!("{BASE}{}", vs("a", "2001:db8::1", "eth0", 80, ""));
    assert!(errors(&check(&text))
        .iter()
        .any(|m| m.contains("address family")));
    let text = format!(
        "{BASE}network = tunnel\n{}",
        vs("a", "2001:db8::1", "eth0", 80, "")
    );
    assert!(!errors(&check(&text))
        .iter()
        .any(|m| m.contains("address family")));
}

#[test]
fn missing_addresses_and_zero_intervals_are_errors() {
    let d = check(&format!(
        "{BASE}virtual w {{\n active = 1\n server a {{\n active = 1\n }}\n}}\nkeepalive = 0\n"
    ));
    let e = errors(&d);
    assert!(e.iter().any(|m| m == "virtual w has no address"), "{e:?}");
    assert!(
        e.iter().any(|m| m == "server a of w has no address"),
        "{e:?}"
    );
    assert!(e.iter().any(|m| m == "keepalive is 0"), "{e:?}");
}

#[test]
fn primary_equal_to_backup_is_an_error() {
    let d = check(&format!(
        "primary = 1.1.1.1\nbackup = 1.1.1.1\n{}",
        vs("w", "1.1.1.100", "eth0:1", 80, "")
    ));
    assert!(errors(&d).iter().any(|m| m.contains("same address")));
}

#[test]
fn inactive_blocks_are_not_checked() {
    let d = check(&format!(
        "{BASE}{}virtual off {{\n active = 0\n timeout = 0\n}}\n",
        vs("w", "1.1.1.100", "eth0:1", 80, "")
    ));
    assert!(!has_errors(&d), "{d:?}");
}

#[test]
fn an_expect_regex_nanny_could_not_use_is_an_error_at_its_expect_value() {
    let with = |expect: &str, regex: u8| {
        let extra = format!(" expect = \"{expect}\"\n use_regex = {regex}\n");
        check(&format!(
            "{BASE}{}",
            vs("www", "192.168.0.100", "eth0:1", 80, &extra)
        ))
    };
    let d = with("HTTP/1\\\\.[01] (200", 1);
    let e: Vec<&Diagnostic> = d.iter().filter(|d| d.is_error()).collect();
    assert_eq!(e.len(), 1, "{d:?}");
    assert!(e[0]
        .message
        .starts_with("expect of www is not a usable regular expression: "));
    // ` expect = "...`: the value (its opening quote) at column 11 of its own line, not
    // at the virtual's (5).
    let text = format!(
        "{BASE}{}",
        vs("www", "192.168.0.100", "eth0:1", 80, " expect = \"x\"\n")
    );
    let expect_line = text
        .lines()
        .position(|l| l.starts_with(" expect ="))
        .unwrap() as u32
        + 1;
    assert_ne!(expect_line, 5);
    assert_eq!(
        (e[0].line, e[0].column),
        (expect_line, 11),
        "the expect value's place"
    );
    // Back-references are refused too (nanny matches in linear time).
    assert_eq!(errors(&with("(a)\\\\1", 1)).len(), 1);
    // The same text as a plain prefix, and a sound expression after nanny's escapes.
    assert!(errors(&with("HTTP/1\\\\.[01] (200", 0)).is_empty());
    assert!(errors(&with("^HTTP/1\\\\.[01] [[:digit:]]{3}", 1)).is_empty());
    assert!(errors(&with("*", 1)).is_empty());
}

#[test]
fn programs_that_cannot_run_are_warned_about() {
    let dir = std::env::temp_dir().join(format!("lvscf-prog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plain = dir.join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    let text = format!(
        "{BASE}active_cmd = \"/nonexistent/became-active --now\"\ninactive_cmd = sh\n\
         ipvsadm = {}\n{}",
        plain.display(),
        vs(
            "www",
            "192.168.0.100",
            "eth0:1",
            80,
            " client_monitor = /nonexistent/nanny\n send_program = \"no-such-check-xyz %h\"\n"
        )
    );
    let warnings: Vec<String> = check(&text)
        .iter()
        .filter(|d| !d.is_error())
        .map(|d| d.message.clone())
        .collect();
    let want = [
        "active_cmd: /nonexistent/became-active does not exist".to_string(),
        format!("ipvsadm: {} is not an executable file", plain.display()),
        "client_monitor of www: /nonexistent/nanny does not exist".into(),
        "send_program of www: no-such-check-xyz is not found in PATH".into(),
    ];
    for w in &want {
        assert!(warnings.contains(w), "{w} missing from {warnings:#?}");
    }
    assert!(
        !warnings.iter().any(|w| w.starts_with("inactive_cmd")),
        "sh is in PATH"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_program_named_by_many_virtuals_is_checked_once_and_reported_for_each() {
    // The check is cached by path (5,000 virtuals name one client monitor); the warning
    // is still given for every virtual that names a missing one, and only for those.
    let monitor = |m: &str| format!(" client_monitor = {m}\n");
    let text = format!(
        "{BASE}{}{}{}",
        vs(
            "a",
            "192.168.0.100",
            "eth0:1",
            80,
            &monitor("/nonexistent/nanny")
        ),
        vs("b", "192.168.0.101", "eth0:2", 80, &monitor("/bin/sh")),
        vs(
            "c",
            "192.168.0.102",
            "eth0:3",
            80,
            &monitor("/nonexistent/nanny")
        ),
    );
    let missing: Vec<String> = check(&text)
        .iter()
        .filter(|d| d.message.contains("client_monitor"))
        .map(|d| d.message.clone())
        .collect();
    assert_eq!(
        missing,
        [
            "client_monitor of a: /nonexistent/nanny does not exist",
            "client_monitor of c: /nonexistent/nanny does not exist",
        ]
    );
}
