//! The legacy examples and error cases (docs/legacy.md, "lvs.cf") parse to the values it gives, and
//! every legacy error case yields the legacy text with file and line.

use std::net::IpAddr;
use std::time::Duration;

use lvscf::lexer::Quote;
use lvscf::*;

fn opts() -> ParseOptions {
    fn resolver(name: &str) -> Option<IpAddr> {
        match name {
            "director-a" => Some("192.168.0.10".parse().unwrap()),
            "web1.example" => Some("10.0.0.21".parse().unwrap()),
            _ => None,
        }
    }
    ParseOptions { resolver }
}

fn parse(text: &str) -> Result<Parsed, ParseFailure> {
    parse_str(text, "lvs.cf", &opts())
}

fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(p) => p.config,
        Err(f) => panic!("unexpected failure: {f}\n--- input:\n{text}"),
    }
}

/// The first error: (line, legacy text).
fn err(text: &str) -> (u32, String) {
    match parse(text) {
        Ok(_) => panic!("unexpectedly accepted:\n{text}"),
        Err(f) => {
            let e = f.first_error();
            (e.line, e.message.clone())
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const REFERENCE_1_9: &str = include_str!("data/reference-1.9.cf");

#[test]
fn reference_1_9_globals() {
    let c = ok(REFERENCE_1_9);
    assert_eq!(c.serial_no, 42);
    assert_eq!(c.primary.as_ref().unwrap().addr, ip("192.168.0.10"));
    assert_eq!(c.primary_private.as_ref().unwrap().addr, ip("10.11.12.1"));
    assert_eq!(c.service, ServiceType::Lvs);
    assert_eq!(c.rsh_command, "ssh");
    assert!(c.backup_active);
    assert_eq!(c.backup.as_ref().unwrap().addr, ip("192.168.0.11"));
    assert_eq!(c.backup_private.as_ref().unwrap().addr, ip("10.11.12.2"));
    assert!(c.heartbeat);
    assert_eq!(c.heartbeat_port, 539);
    assert_eq!(c.keepalive, Duration::from_secs(2));
    assert_eq!(c.deadtime, Duration::from_secs(10));
    assert_eq!(c.network, Network::Nat);
    let nat = c.nat_router.as_ref().unwrap();
    assert_eq!(
        (nat.addr(), nat.device.as_str(), nat.base_device()),
        (ip("10.0.0.254"), "eth1:1", "eth1")
    );
    assert_eq!(c.nat_nmask, Some("255.255.255.0".parse().unwrap()));
    assert_eq!(c.debug_level, "NONE");
    assert!(c.monitor_links);
    assert!(c.syncdaemon);
    assert_eq!(c.syncd_iface, "eth1");
    assert_eq!(c.syncd_id, 7);
    assert_eq!(
        (c.tcp_timeout, c.tcpfin_timeout, c.udp_timeout),
        (900, 120, 300)
    );
    assert!(c.hard_shutdown);
    assert_eq!(
        c.active_cmd.as_deref(),
        Some("/usr/local/sbin/lvs-became-active")
    );
    assert_eq!(
        c.inactive_cmd.as_deref(),
        Some("/usr/local/sbin/lvs-became-inactive")
    );
    assert_eq!(c.virtuals.len(), 3);
    assert_eq!(c.failovers.len(), 1);
}

#[test]
fn reference_1_9_virtual_www() {
    let c = ok(REFERENCE_1_9);
    let www = &c.virtuals[0];
    assert_eq!(www.name, "www");
    assert!(www.active);
    let a = www.address.as_ref().unwrap();
    assert_eq!(
        (a.addr(), a.device.as_str()),
        (ip("192.168.0.100"), "eth0:1")
    );
    assert_eq!(www.vip_nmask, Some("255.255.255.0".parse().unwrap()));
    assert_eq!(
        www.sorry_server,
        Some(SorryServer {
            addr: ip("10.0.0.99"),
            port: None
        })
    );
    assert_eq!(www.port, 80, "port = http resolves through /etc/services");
    assert_eq!(www.persistent, 300);
    assert_eq!(www.pmask, Some("255.255.255.0".parse().unwrap()));
    let send = www.send.as_ref().unwrap();
    // Backslashes stay literal in the parser; nanny converts them.
    assert_eq!(
        send.text,
        r"GET /health HTTP/1.0\r\nHost: www.example.com\r\n\r\n"
    );
    assert_eq!(send.quote, Quote::Double);
    assert_eq!(www.expect.as_ref().unwrap().text, "HTTP/1.1 200");
    assert!(!www.use_regex);
    assert_eq!(www.load_monitor.as_deref(), Some("none"));
    assert_eq!(www.scheduler, "wlc");
    assert_eq!(www.protocol, Protocol::Tcp);
    assert_eq!((www.timeout, www.reentry), (6, 15));
    assert!(www.quiesce_server);
    assert_eq!(www.client_monitor, "/usr/sbin/nanny");
    let names: Vec<_> = www.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web1", "web2"]);
    for (s, addr) in www.servers.iter().zip(["10.0.0.21", "10.0.0.22"]) {
        assert_eq!(s.address.as_ref().unwrap().addr, ip(addr));
        assert!(s.active);
        assert_eq!((s.port, s.weight), (8080, 100));
    }
}

#[test]
fn reference_1_9_other_blocks() {
    let c = ok(REFERENCE_1_9);
    let dns = &c.virtuals[1];
    assert_eq!(
        (dns.protocol, dns.port, dns.scheduler.as_str()),
        (Protocol::Udp, 53, "rr")
    );
    assert_eq!(
        dns.send_program.as_ref().unwrap().text,
        "/usr/local/sbin/check_dns %h %p"
    );
    assert_eq!(dns.expect.as_ref().unwrap().text, "OK");
    assert!(!dns.quiesce_server);
    // A server without `port` takes the virtual's port at that point.
    assert_eq!(dns.servers[0].port, 53);
    assert_eq!(dns.servers[0].weight, 1);

    let fwm = &c.virtuals[2];
    assert_eq!((fwm.fwmark, fwm.persistent, fwm.port), (80, 600, 80));
    assert_eq!(fwm.expect.as_ref().unwrap().text, "*");
    assert_eq!(fwm.load_monitor.as_deref(), Some("uptime"));
    assert!(fwm.servers[0].active && !fwm.servers[1].active);
    assert_eq!(fwm.active_servers().count(), 1);

    let ftp = &c.failovers[0];
    assert_eq!(ftp.name, "ftp");
    assert!(!ftp.active);
    assert_eq!(ftp.port, 21);
    assert_eq!(ftp.send.as_ref().unwrap().text, r"\n");
    assert_eq!(
        ftp.start_cmd.as_ref().unwrap().text,
        "/etc/rc.d/init.d/vsftpd start"
    );
    assert_eq!(
        ftp.stop_cmd.as_ref().unwrap().text,
        "/etc/rc.d/init.d/vsftpd stop"
    );
}

#[test]
fn defaults_of_an_almost_empty_file() {
    let c = ok("primary = 1.2.3.4\n");
    assert_eq!(c.service, ServiceType::Lvs);
    assert_eq!(c.backup, None);
    assert!(!c.backup_active && !c.heartbeat && !c.syncdaemon && !c.sync && !c.monitor_links);
    assert_eq!(c.heartbeat_port, 539);
    assert_eq!(
        (c.keepalive, c.deadtime),
        (Duration::from_secs(2), Duration::from_secs(5))
    );
    assert_eq!(c.network, Network::Nat);
    assert_eq!(c.rsh_command, "rsh");
    assert_eq!(c.ipvsadm, "/sbin/ipvsadm");
    assert_eq!(c.syncd_iface, "eth0");
    assert_eq!(c.syncd_id, 0);
    assert!(c.hard_shutdown, "hard_shutdown defaults to 1");
    assert_eq!(c.debug_level, "NONE");
    assert_eq!((c.tcp_timeout, c.tcpfin_timeout, c.udp_timeout), (0, 0, 0));
}

#[test]
fn defaults_of_virtual_and_server_blocks() {
    let c = ok("virtual v {\n server s {\n }\n}\n");
    let v = &c.virtuals[0];
    assert!(!v.active, "active defaults to 0");
    assert_eq!((v.port, v.protocol, v.fwmark), (80, Protocol::Tcp, 0));
    assert_eq!(v.scheduler, "wlc");
    assert_eq!((v.timeout, v.reentry, v.persistent), (10, 180, 0));
    assert_eq!(
        v.load_monitor, None,
        "unset load_monitor means nanny's default `none`"
    );
    assert_eq!(v.client_monitor, "/usr/sbin/nanny");
    assert!(!v.quiesce_server && !v.use_regex);
    let s = &v.servers[0];
    assert!(!s.active);
    assert_eq!((s.port, s.weight), (80, 1));
    assert_eq!(s.address, None);
}

#[test]
fn server_port_defaults_to_the_virtual_port_in_force_at_that_line() {
    let p = parse("virtual v {\n port = 21\n server a {\n }\n port = 8080\n server b {\n }\n}\n")
        .unwrap();
    let v = &p.config.virtuals[0];
    assert_eq!(
        (v.servers[0].port, v.servers[1].port, v.port),
        (21, 8080, 8080)
    );
    assert!(p
        .warnings
        .iter()
        .any(|w| w.message.contains("set after server blocks")));
}

#[test]
fn private_addresses_copy_the_public_ones_without_primary_private() {
    let p = parse("primary = 1.1.1.1\nbackup = 2.2.2.2\nbackup_private = 3.3.3.3\n").unwrap();
    let c = &p.config;
    assert_eq!(c.primary_private.as_ref().unwrap().addr, ip("1.1.1.1"));
    // Legacy overwrites an explicit backup_private in this case.
    assert_eq!(c.backup_private.as_ref().unwrap().addr, ip("2.2.2.2"));
    assert!(p
        .warnings
        .iter()
        .any(|w| w.line == 3 && w.message.contains("backup_private is ignored")));

    let c = ok("primary = 1.1.1.1\nprimary_private = 9.9.9.1\nbackup = 2.2.2.2\nbackup_private = 9.9.9.2\n");
    assert_eq!(c.backup_private.as_ref().unwrap().addr, ip("9.9.9.2"));
}

#[test]
fn lexical_rules_of_1_1() {
    // Leading blanks, blank lines and whole-line comments are ignored.
    let c = ok("\n   # comment\n\t  primary = 1.2.3.4\n\n  # another = x\n");
    assert_eq!(c.primary.unwrap().addr, ip("1.2.3.4"));
    // Later assignments override earlier; globals may follow blocks.
    let c = ok("keepalive = 3\nvirtual v {\n}\nkeepalive = 4\n");
    assert_eq!(c.keepalive, Duration::from_secs(4));
    // Block names are arbitrary and may repeat.
    let c = ok("virtual a.b-c {\n}\nvirtual a.b-c {\n}\n");
    assert_eq!(c.virtuals.len(), 2);
    // Quotes: stored without them, blanks kept; single quotes are kept for nanny.
    let c = ok("virtual v {\n send = 'a b'\n expect = \"x\\\"y\"\n}\n");
    let v = &c.virtuals[0];
    assert_eq!(v.send.as_ref().unwrap().as_passed(), "'a b'");
    assert_eq!(v.expect.as_ref().unwrap().as_passed(), r#"x\"y"#);
    // Other string keywords store the unquoted token.
    let c = ok("active_cmd = \"/usr/bin/x --flag\"\n");
    assert_eq!(c.active_cmd.as_deref(), Some("/usr/bin/x --flag"));
    // Words after `}` are accepted.
    let p = parse("virtual v {\n} end of v\n").unwrap();
    assert!(p
        .warnings
        .iter()
        .any(|w| w.line == 2 && w.message.contains("after `}`")));
}

#[test]
fn value_types_of_1_2() {
    let c = ok("serial_no = 0x10\nsyncd_id = 010\nheartbeat_port = https\nbackup_active = 0x1\nbackup = 10.1\nprimary = director-a\n");
    assert_eq!(c.serial_no, 16);
    assert_eq!(c.syncd_id, 8, "leading zero is octal, as C strtol");
    assert_eq!(c.heartbeat_port, 443);
    assert!(c.backup_active);
    assert_eq!(
        c.backup.as_ref().unwrap().addr,
        ip("10.0.0.1"),
        "inet_aton shorthand"
    );
    let primary = c.primary.unwrap();
    assert_eq!(
        (primary.name.as_str(), primary.addr),
        ("director-a", ip("192.168.0.10"))
    );
    let c = ok("virtual v {\n dirs = [ /a /b ]\n master = 1.2.3.4\n server s {\n address = web1.example\n }\n}\n");
    assert_eq!(
        c.virtuals[0].dirs,
        Some(vec!["/a".to_string(), "/b".to_string()])
    );
    assert_eq!(c.virtuals[0].master.as_ref().unwrap().addr, ip("1.2.3.4"));
    assert_eq!(
        c.virtuals[0].servers[0].address.as_ref().unwrap().addr,
        ip("10.0.0.21")
    );
}

#[test]
fn pmask_all_ones_means_no_mask() {
    let c = ok("virtual v {\n persistent = 60\n pmask = 255.255.255.255\n}\n");
    assert_eq!(c.virtuals[0].pmask, None);
}

#[test]
fn unused_keywords_are_kept() {
    let c = ok("heartbeat = 1\ndebug_level = HIGH\nserial_no = 9\nsync = 1\n");
    assert!(c.heartbeat && c.sync);
    assert_eq!((c.debug_level.as_str(), c.serial_no), ("HIGH", 9));
}

// ---- legacy error cases (docs/legacy.md, "lvs.cf") ----

#[test]
fn legacy_errors_carry_legacy_texts_and_lines() {
    let cases: &[(&str, u32, &str)] = &[
        ("primary=1.2.3.4\n", 1, "unknown command"),
        ("primary = 1.2.3.4\nport = 80 # web\n", 2, "unknown command"),
        (
            "primary = 1.2.3.4\nkeepalive = 2 # seconds\n",
            2,
            "unexpected arguments",
        ),
        ("virtual x{\n}\n", 1, "missing arguments"),
        ("virtual x { y\n}\n", 1, "unexpected arguments"),
        ("virtual\n", 1, "missing arguments"),
        ("virtual x\n", 1, "missing arguments"),
        ("virtual x {\n port = 80 }\n}\n", 2, "unexpected arguments"),
        ("virtual x {\n server s{\n }\n}\n", 2, "missing arguments"),
        ("keepalive = 080\n", 1, "integer expected"),
        ("keepalive = ten\n", 1, "integer expected"),
        ("backup_active = 2\n", 1, "boolean expected"),
        ("backup_active = yes\n", 1, "integer expected"),
        (
            "virtual x {\n address = 1.2.3.4\n}\n",
            2,
            "missing arguments",
        ),
        (
            "virtual x {\n address = 1.2.3.4 eth0:1 extra\n}\n",
            2,
            "unexpected arguments",
        ),
        (
            "virtual x {\n scheduler = bogus\n}\n",
            2,
            "invalid argument",
        ),
        ("virtual x {\n protocol = icmp\n}\n", 2, "invalid argument"),
        ("network = bridge\n", 1, "invalid argument"),
        ("service = web\n", 1, "invalid argument"),
        (
            "reservation_conflict_action = maybe\n",
            1,
            "invalid argument",
        ),
        ("primary = 0.0.0.0\n", 1, "invalid host name or ip address"),
        (
            "primary_private = 0.0.0.0\n",
            1,
            "invalid host name or ip address",
        ),
        ("primary = no.such.host.invalid\n", 1, "invalid argument"),
        (
            "virtual x {\n sorry_server = sorry.example\n}\n",
            2,
            "invalid host name or ip address",
        ),
        (
            "virtual x {\n vip_nmask = 255.255.0.x\n}\n",
            2,
            "Bad subnet mask specified",
        ),
        ("nat_nmask = bogus\n", 1, "Bad subnet mask specified"),
        (
            "virtual x {\n port = no-such-service\n}\n",
            2,
            "invalid argument",
        ),
        (
            "virtual x {\n server s {\n port = http\n }\n}\n",
            3,
            "integer expected",
        ),
        ("virtual x {\n dirs = a b\n}\n", 2, "list expected"),
        ("virtual x {\n dirs = [ a b\n}\n", 2, "list expected"),
        ("primary\n", 1, "equal (=) expected after command"),
        ("primary 1.2.3.4\n", 1, "equal (=) expected after command"),
        ("primary =\n", 1, "missing arguments"),
        ("virtual x {\n send = \"GET /\n}\n", 2, "quotation mismatch"),
        ("virtual x {\n expect = 'abc\n}\n", 2, "quotation mismatch"),
        ("}\n", 1, "unknown command"),
        ("", 0, "Empty configuration"),
    ];
    for (text, line, message) in cases {
        assert_eq!(err(text), (*line, message.to_string()), "input:\n{text}");
    }
}

#[test]
fn keywords_that_do_not_exist_are_unknown_commands() {
    for kw in [
        "debug",
        "mode",
        "heartbeat_dev",
        "lvs_sync_daemon_interface",
        "broadcast",
        "nmask",
    ] {
        assert_eq!(
            err(&format!("{kw} = 1\n")),
            (1, "unknown command".into()),
            "{kw}"
        );
    }
    // The GUI's keys the daemons never accepted.
    assert_eq!(
        err("virtual v {\n server s {\n nmask = 255.0.0.0\n }\n}\n"),
        (3, "unknown command".into())
    );
    assert_eq!(
        err("virtual v {\n expect_program = x\n}\n"),
        (2, "unknown command".into())
    );
    assert_eq!(
        err("virtual v {\n deadtime = 5\n}\n"),
        (2, "unknown command".into())
    );
    assert_eq!(
        err("failover f {\n heartbeat = 1\n}\n"),
        (2, "unknown command".into())
    );
    // Keywords are case-sensitive.
    assert_eq!(err("Primary = 1.2.3.4\n"), (1, "unknown command".into()));
}

#[test]
fn errors_name_file_line_and_column_with_a_hint() {
    let f = parse_str(
        "primary = 1.2.3.4\nvirtual web {\n    weight = 3\n}\n",
        "/etc/sysconfig/ha/lvs.cf",
        &opts(),
    )
    .unwrap_err();
    let e = f.first_error();
    assert_eq!(
        (e.file.as_str(), e.line, e.column),
        ("/etc/sysconfig/ha/lvs.cf", 3, 5)
    );
    assert!(!e.hint.is_empty());
    assert_eq!(
        e.to_string(),
        format!(
            "/etc/sysconfig/ha/lvs.cf:3:5: error: unknown command ({})",
            e.hint
        )
    );
    assert_eq!(
        e.legacy_pulse_line(),
        "pulse: error parsing /etc/sysconfig/ha/lvs.cf at line 3: unknown command"
    );
    assert_eq!(
        e.legacy_lvsd_line(),
        "lvs: error parsing /etc/sysconfig/ha/lvs.cf on line 3."
    );
}

#[test]
fn hints_explain_common_mistakes() {
    let hint = |text: &str| parse(text).unwrap_err().first_error().hint.clone();
    assert!(hint("primary=1.2.3.4\n").contains("primary = 1.2.3.4"));
    assert!(hint("keepalive = 2 # s\n").contains("no trailing comments"));
    assert!(hint("keepalive = 080\n").contains("octal"));
    assert!(hint("debug = 1\n").contains("debug_level"));
    assert!(hint("virtual v {\n primary = 1.2.3.4\n}\n").contains("global keyword"));
    assert!(hint("virtual v {\nvirtual w {\n}\n").contains("nest"));
    assert!(hint("virtual v {\n server a {\n server b {\n }\n }\n}\n").contains("nest"));
}

#[test]
fn every_bad_line_is_reported_not_just_the_first() {
    let f = parse("keepalive = x\ndeadtime = y\nprimary = 1.2.3.4\nbogus = 1\n").unwrap_err();
    let lines: Vec<u32> = f.errors().map(|e| e.line).collect();
    assert_eq!(lines, [1, 2, 4]);
}
