//! Extensions over legacy lvs.cf (legacy would reject these; docs/lvs.cf.5 marks them).

use std::net::IpAddr;
use std::time::Duration;

use lvscf::*;

fn ok(text: &str) -> Config {
    match parse_str(text, "lvs.cf", &ParseOptions::default()) {
        Ok(p) => p.config,
        Err(f) => panic!("{f}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn fractional_keepalive_and_deadtime() {
    let c = ok("keepalive = 0.2\ndeadtime = 0.75\n");
    assert_eq!(c.keepalive, Duration::from_millis(200));
    assert_eq!(c.deadtime, Duration::from_millis(750));
}

#[test]
fn ipv6_directors_vips_real_and_sorry_servers() {
    let c = ok("primary = 2001:db8::10\nprimary_private = fd00::1\nbackup = 2001:db8::11\n\
                backup_private = fd00::2\nnat_router = 2001:db8:1::fe eth1\n\
                virtual v6 {\n active = 1\n address = 2001:db8::100 eth0\n port = 443\n\
                sorry_server = [2001:db8:1::99]\n server a {\n address = 2001:db8:1::21\n active = 1\n }\n}\n");
    assert_eq!(c.primary.unwrap().addr, ip("2001:db8::10"));
    assert_eq!(c.primary_private.unwrap().addr, ip("fd00::1"));
    assert_eq!(c.backup.unwrap().addr, ip("2001:db8::11"));
    assert_eq!(c.backup_private.unwrap().addr, ip("fd00::2"));
    assert_eq!(c.nat_router.unwrap().addr(), ip("2001:db8:1::fe"));
    let v = &c.virtuals[0];
    assert_eq!(v.vip(), Some(ip("2001:db8::100")));
    assert_eq!(v.sorry_server.as_ref().unwrap().addr, ip("2001:db8:1::99"));
    assert_eq!(
        v.servers[0].address.as_ref().unwrap().addr,
        ip("2001:db8:1::21")
    );
    assert_eq!(v.identity().to_string(), "TCP [2001:db8::100]:443");
}

#[test]
fn sorry_server_with_a_port() {
    let c = ok("virtual v {\n port = 80\n sorry_server = 10.0.0.99 8080\n}\n");
    assert_eq!(
        c.virtuals[0].sorry_server,
        Some(SorryServer {
            addr: ip("10.0.0.99"),
            port: Some(8080)
        })
    );
    let f = parse_str(
        "virtual v {\n sorry_server = 10.0.0.99 99999\n}\n",
        "f",
        &ParseOptions::default(),
    )
    .unwrap_err();
    assert_eq!(f.first_error().message, "invalid argument");
    let f = parse_str(
        "virtual v {\n sorry_server = 10.0.0.99 1 2\n}\n",
        "f",
        &ParseOptions::default(),
    )
    .unwrap_err();
    assert_eq!(f.first_error().message, "unexpected arguments");
}

#[test]
fn more_kernel_schedulers_and_sctp() {
    for s in EXTENSION_SCHEDULERS.iter().chain(LEGACY_SCHEDULERS) {
        let c = ok(&format!(
            "virtual v {{\n scheduler = {s}\n protocol = sctp\n}}\n"
        ));
        assert_eq!(c.virtuals[0].scheduler, *s);
        assert_eq!(c.virtuals[0].protocol, Protocol::Sctp);
    }
}

#[test]
fn a_virtual_service_names_its_own_forwarding_method() {
    let text = "network = nat\nnat_router = 10.0.1.254 eth1\n\
                virtual web {\n active = 1\n address = 192.0.2.100 eth0:1\n\
                server a {\n address = 10.0.1.21\n active = 1\n }\n}\n\
                virtual dr {\n active = 1\n address = 192.0.2.101 eth0:2\n network = direct\n\
                server a {\n address = 192.0.2.21\n active = 1\n }\n}\n";
    let c = ok(text);
    assert_eq!(
        c.virtuals[0].network, None,
        "legacy blocks keep the global method"
    );
    assert_eq!(c.network_of(&c.virtuals[0]), Network::Nat);
    assert_eq!(c.virtuals[1].network, Some(Network::Direct));
    assert_eq!(c.network_of(&c.virtuals[1]), Network::Direct);
    assert!(c.uses_nat(), "one NAT service needs the NAT router");
    // Written back only where it is set.
    let written = write_config(&c);
    assert_eq!(written.matches("network = ").count(), 2, "{written}");
    assert!(written.contains("     network = direct\n"), "{written}");
    assert!(ok(&written).same_settings(&c));
    // Every service by direct routing: no NAT router, though the global says nat.
    let all_dr = text.replace(
        "server a {\n address = 10.0.1.21",
        "network = direct\nserver a {\n address = 10.0.1.21",
    );
    assert_eq!(ok(&all_dr).virtuals[0].network, Some(Network::Direct));
    assert!(!ok(&all_dr).uses_nat());
    // The legacy rule without overrides: global nat needs it.
    assert!(ok("network = nat\n").uses_nat());
    assert!(!ok("network = direct\n").uses_nat());
    let f = parse_str(
        "virtual v {\n network = bridged\n}\n",
        "f",
        &ParseOptions::default(),
    )
    .unwrap_err();
    assert!(f.to_string().contains("f:2"), "{f}");
}

#[test]
fn pulse_extension_keywords_parse_and_default_to_legacy() {
    let legacy = ok("primary = 10.0.0.1\n");
    assert_eq!(legacy.heartbeat_auth, HeartbeatAuth::Off);
    assert_eq!(
        (
            legacy.preempt_delay,
            legacy.arp_refresh,
            legacy.warm_standby
        ),
        (None, None, false)
    );
    let c = ok(
        "heartbeat_auth = enforce\nheartbeat_key = /etc/ha.key\nheartbeat_key_id = 7\n\
                preempt_delay = 2.5\nwarm_standby = 1\narp_refresh = 60\nintegrated_monitors = 1\n",
    );
    assert!(c.integrated_monitors && !legacy.integrated_monitors);
    assert_eq!(c.heartbeat_auth, HeartbeatAuth::Enforce);
    assert_eq!(c.heartbeat_key.as_deref(), Some("/etc/ha.key"));
    assert_eq!(c.heartbeat_key_id, 7);
    assert_eq!(c.preempt_delay, Some(Duration::from_millis(2500)));
    assert!(c.warm_standby);
    assert_eq!(c.arp_refresh, Some(Duration::from_secs(60)));
    assert_eq!(
        ok("preempt_delay = 0\narp_refresh = 0\n").preempt_delay,
        None
    );
    // Written back only when used, and read back the same.
    let text = write_config(&c);
    assert!(
        text.contains("heartbeat_auth = enforce\n") && text.contains("preempt_delay = 2.5\n"),
        "{text}"
    );
    assert!(ok(&text).same_settings(&c));
    assert!(!write_config(&legacy).contains("heartbeat_auth"));
    assert!(!write_config(&legacy).contains("integrated_monitors"));
    assert!(text.contains("integrated_monitors = 1\n"), "{text}");
}

#[test]
fn status_http_takes_a_port_on_loopback_or_an_address_and_is_off_by_default() {
    assert_eq!(ok("primary = 10.0.0.1\n").status_http, None);
    for (value, want) in [
        ("9180", Some("127.0.0.1:9180")),
        ("192.0.2.1:80", Some("192.0.2.1:80")),
        ("[::1]:9180", Some("[::1]:9180")),
        ("0", None),
    ] {
        let c = ok(&format!("status_http = {value}\n"));
        assert_eq!(c.status_http.map(|a| a.to_string()).as_deref(), want);
        assert!(ok(&write_config(&c)).same_settings(&c), "{value}");
    }
    assert!(!write_config(&ok("serial_no = 1\n")).contains("status_http"));
    for bad in [
        "65536",
        "localhost:80",
        "192.0.2.1",
        "192.0.2.1:0",
        "::1:80",
    ] {
        let f = parse_str(
            &format!("serial_no = 1\nstatus_http = {bad}\n"),
            "f",
            &ParseOptions::default(),
        )
        .unwrap_err();
        let e = &f.diagnostics[0];
        assert_eq!(e.line, 2, "{bad}");
        assert!(
            e.to_string().contains("ADDRESS:PORT") && e.to_string().contains(bad),
            "{bad}: {e}"
        );
    }
}

#[test]
fn pulse_extension_keywords_refuse_bad_values_with_their_line() {
    for (text, needle) in [
        ("heartbeat_auth = maybe\n", "maybe"),
        ("heartbeat_key_id = 256\n", "256"),
        ("preempt_delay = soon\n", "f:1:17: error"),
        ("warm_standby = 2\n", "2"),
    ] {
        let f = parse_str(text, "f", &ParseOptions::default()).unwrap_err();
        let e = &f.diagnostics[0];
        assert_eq!(e.line, 1, "{text}");
        assert!(e.to_string().contains(needle), "{text}: {e}");
    }
    // Inside a block they are global keywords, said so.
    let f = parse_str(
        "virtual v {\n warm_standby = 1\n}\n",
        "f",
        &ParseOptions::default(),
    )
    .unwrap_err();
    assert!(
        f.diagnostics[0].to_string().contains("global keyword"),
        "{f}"
    );
    // Authentication needs a key.
    let c = ok("heartbeat_auth = permissive\n");
    let diags = lvscf::validate::validate_for(&c, "f", lvscf::validate::Consumer::Pulse);
    assert!(
        diags
            .iter()
            .any(|d| d.is_error() && d.message.contains("without heartbeat_key")),
        "{diags:?}"
    );
}
