//! The fleet extension (docs/fleet.md): its keywords, its defaults, its checks.

use std::net::IpAddr;

use lvscf::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const FLEET: &str = "serial_no = 1
director = 10.77.0.11
director = 10.77.0.12
director = 10.77.0.13
bgp_local_as = 65001
bgp_peer = 10.77.0.1 65000
bgp_bfd = 1
syncdaemon = 1
network = direct
virtual web {
 active = 1
 address = 10.77.100.1 eth0:1
 port = 80
 scheduler_flags = mh-port
 server a {
  address = 10.77.0.21
  active = 1
 }
}
virtual other {
 active = 1
 address = 10.77.100.2 eth0:2
 scheduler = wlc
 announce = 0
}
";

fn parse(text: &str) -> Config {
    match parse_str(text, "lvs.cf", &ParseOptions::default()) {
        Ok(p) => p.config,
        Err(f) => panic!("{f}"),
    }
}

fn diagnostics(text: &str) -> Vec<Diagnostic> {
    validate::validate_for(&parse(text), "lvs.cf", validate::Consumer::Pulse)
}

fn messages(d: &[Diagnostic], severity: Severity) -> Vec<String> {
    d.iter()
        .filter(|d| d.severity == severity)
        .map(|d| d.message.clone())
        .collect()
}

#[test]
fn the_fleet_keywords_are_read_into_the_model() {
    let c = parse(FLEET);
    assert!(c.is_fleet());
    let f = &c.fleet;
    let directors: Vec<IpAddr> = f.directors.iter().map(|h| h.addr).collect();
    assert_eq!(
        directors,
        [ip("10.77.0.11"), ip("10.77.0.12"), ip("10.77.0.13")]
    );
    assert_eq!(f.local_as, Some(65001));
    assert_eq!(
        f.peers,
        [BgpPeer {
            addr: ip("10.77.0.1"),
            asn: 65000
        }]
    );
    assert_eq!(f.next_hop, None, "self by default");
    assert!(f.bfd);
    assert_eq!(f.bird_socket, fleet::DEFAULT_BIRD_SOCKET);
    assert_eq!(
        f.this_director(&[ip("127.0.0.1"), ip("10.77.0.12")]),
        Some(ip("10.77.0.12"))
    );
    assert_eq!(f.others(ip("10.77.0.12")).count(), 2);
}

#[test]
fn fleet_virtuals_default_to_mh_and_an_explicit_scheduler_stays() {
    let c = parse(FLEET);
    assert_eq!(c.virtuals[0].scheduler, "mh");
    assert_eq!(c.virtuals[0].scheduler_flags, ["mh-port"]);
    assert_eq!(c.virtuals[1].scheduler, "wlc");
    let announced: Vec<&str> = c.announced_virtuals().map(|v| v.name.as_str()).collect();
    assert_eq!(announced, ["web"], "announce = 0 opts out");
}

#[test]
fn a_legacy_file_is_no_fleet_and_keeps_wlc() {
    let c =
        parse("primary = 10.0.0.1\nvirtual v {\n active = 1\n address = 10.0.0.100 eth0:1\n}\n");
    assert!(!c.is_fleet());
    assert_eq!(c.virtuals[0].scheduler, "wlc");
    assert_eq!(c.announced_virtuals().count(), 0);
    assert!(
        !write_config(&c).contains("director"),
        "a legacy file stays legacy"
    );
}

#[test]
fn a_fleet_file_is_checked_without_primary_and_passes() {
    let d = diagnostics(FLEET);
    assert!(messages(&d, Severity::Error).is_empty(), "{d:?}");
}

#[test]
fn nat_with_a_fleet_is_an_error() {
    let d = diagnostics(&FLEET.replace("network = direct", "network = nat"));
    let errors = messages(&d, Severity::Error);
    assert!(
        errors.iter().any(|m| m.contains("web forwards by NAT")),
        "{errors:?}"
    );
}

#[test]
fn fewer_than_two_directors_is_an_error() {
    let text = FLEET
        .replace("director = 10.77.0.12\n", "")
        .replace("director = 10.77.0.13\n", "");
    let errors = messages(&diagnostics(&text), Severity::Error);
    assert!(
        errors.iter().any(|m| m.contains("at least two directors")),
        "{errors:?}"
    );
    let dup = FLEET.replace("director = 10.77.0.13", "director = 10.77.0.12");
    assert!(messages(&diagnostics(&dup), Severity::Error)
        .iter()
        .any(|m| m.contains("listed twice")));
}

#[test]
fn a_scheduler_that_differs_per_director_is_a_warning() {
    let text = FLEET.replace(" port = 80\n", " port = 80\n scheduler = wlc\n");
    let d = diagnostics(&text);
    assert!(messages(&d, Severity::Error).is_empty(), "{d:?}");
    let warnings = messages(&d, Severity::Warning);
    assert!(
        warnings.iter().any(|m| m.contains("wlc scheduler")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|m| m.contains("do not belong to wlc")),
        "{warnings:?}"
    );
}

#[test]
fn no_bgp_side_and_no_sync_daemon_are_said() {
    let text = FLEET
        .replace("bgp_peer = 10.77.0.1 65000\n", "")
        .replace("syncdaemon = 1\n", "");
    let d = diagnostics(&text);
    assert!(messages(&d, Severity::Error)
        .iter()
        .any(|m| m.contains("bgp_local_as")));
    assert!(messages(&d, Severity::Warning)
        .iter()
        .any(|m| m.contains("syncdaemon")));
}

#[test]
fn mh_on_a_kernel_older_than_4_18_names_the_version() {
    let c = parse(FLEET);
    let d = validate::kernel_support(&c, "lvs.cf", "4.14.0-1-amd64");
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].is_error());
    assert!(d[0].message.contains("4.14.0-1-amd64"));
    assert!(d[0].hint.contains("4.18"));
    assert!(validate::kernel_support(&c, "lvs.cf", "6.1.0-48-amd64").is_empty());
}

#[test]
fn bad_fleet_values_are_refused_with_a_hint() {
    for (line, want) in [
        ("bgp_local_as = 0", "AS number"),
        ("bgp_peer = 10.0.0.1", "takes an address"),
        ("director = 0.0.0.0", "own address"),
    ] {
        let text = format!("{line}\n{}", FLEET);
        let err = parse_str(&text, "lvs.cf", &ParseOptions::default()).unwrap_err();
        let first = err.first_error();
        assert_eq!(first.line, 1, "{first}");
        assert!(
            format!("{first}").contains(want) || first.hint.contains(want),
            "{line}: {first}"
        );
    }
    let bad_flag = FLEET.replace("mh-port", "mh-port,bogus");
    let err = parse_str(&bad_flag, "lvs.cf", &ParseOptions::default()).unwrap_err();
    assert!(err
        .first_error()
        .hint
        .contains("`bogus` is not a scheduler flag"));
}

#[test]
fn the_writer_keeps_the_fleet() {
    let c = parse(FLEET);
    let again = parse(&write_config(&c));
    assert!(c.same_settings(&again), "{}", write_config(&c));
}

#[test]
fn the_summary_names_the_directors_and_bgp_not_a_primary() {
    let s = lvscf::report::summary(&parse(FLEET));
    assert!(
        s.contains("  fleet         3 directors: 10.77.0.11, 10.77.0.12, 10.77.0.13\n"),
        "{s}"
    );
    assert!(
        s.contains("  bgp           AS 65001 to 10.77.0.1 AS 65000"),
        "{s}"
    );
    assert!(!s.contains("primary") && !s.contains("backup"), "{s}");
}
