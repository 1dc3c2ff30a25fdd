//! The writer emits the GUI's canonical layout, and parse → write → parse yields the same
//! model, for the reference files and for arbitrary generated models (property tests).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use lvscf::lexer::Quote;
use lvscf::*;
use proptest::prelude::*;

fn parse(text: &str) -> Config {
    match parse_str(text, "lvs.cf", &ParseOptions::default()) {
        Ok(p) => p.config,
        Err(f) => panic!("{f}\n--- input:\n{text}"),
    }
}

fn assert_round_trip(text: &str) {
    let first = parse(text);
    let written = write_config(&first);
    let second = parse(&written);
    assert!(
        first.same_settings(&second),
        "model changed by a rewrite\n--- written:\n{written}"
    );
    // Writing is a fixed point.
    assert_eq!(write_config(&second), written);
}

#[test]
fn reference_example_survives_a_rewrite() {
    assert_round_trip(include_str!("data/reference-1.9.cf"));
}

#[test]
fn shipped_example_survives_a_rewrite() {
    assert_round_trip(include_str!("../../../lvs.cf.example"));
}

#[test]
fn hand_written_quirks_survive_a_rewrite() {
    // Defaulted server ports, a late `port`, names needing quotes, single-quoted send,
    // CRLF endings, octal numbers, extension values.
    let text = "primary = 10.0.0.1\r\nkeepalive = 0.25\r\nserial_no = 010\r\n\
                virtual \"my web\" {\r\n port = 21\r\n server a {\r\n active = 1\r\n }\r\n port = 8080\r\n\
                send = 'GET / HTTP/1.0\\r\\n\\r\\n'\r\n sorry_server = 10.9.9.9 81\r\n dirs = [ /a /b ]\r\n}\r\n\
                failover f {\r\n start_cmd = \"/etc/init.d/x start\"\r\n}\r\n";
    assert_round_trip(text);
    let c = parse(&write_config(&parse(text)));
    assert_eq!(c.virtuals[0].name, "my web");
    assert_eq!(c.virtuals[0].servers[0].port, 21);
    assert_eq!(c.virtuals[0].send.as_ref().unwrap().quote, Quote::Single);
}

#[test]
fn layout_is_the_gui_layout() {
    let c = parse(
        "virtual www {\nserver web1 {\naddress = 10.0.0.21\nactive = 1\n}\nport = 80\nactive = 1\n\
         address = 192.168.0.100 eth0:1\n}\nprimary = 192.168.0.10\nbackup = 192.168.0.11\nfailover f {\n}\n",
    );
    let expected = "\
serial_no = 0
primary = 192.168.0.10
primary_private = 192.168.0.10
service = lvs
rsh_command = rsh
backup_active = 0
backup = 192.168.0.11
backup_private = 192.168.0.11
heartbeat = 0
heartbeat_port = 539
keepalive = 2
deadtime = 5
network = nat
debug_level = NONE
monitor_links = 0
syncdaemon = 0
failover f {
     active = 0
     port = 80
     scheduler = wlc
     protocol = tcp
     timeout = 10
     reentry = 180
}
virtual www {
     active = 1
     address = 192.168.0.100 eth0:1
     port = 80
     scheduler = wlc
     protocol = tcp
     timeout = 10
     reentry = 180
     server web1 {
         address = 10.0.0.21
         active = 1
         port = 80
         weight = 1
     }
}
";
    assert_eq!(write_config(&c), expected);
}

#[test]
fn keys_the_gui_never_wrote_appear_only_when_set() {
    let w = write_config(&parse(
        "hard_shutdown = 0\ntcp_timeout = 900\nipvsadm = /usr/sbin/ipvsadm\n",
    ));
    assert!(w.contains("hard_shutdown = 0\n"));
    assert!(w.contains("tcp_timeout = 900\n"));
    assert!(w.contains("ipvsadm = /usr/sbin/ipvsadm\n"));
    assert!(!w.contains("udp_timeout"));
    assert!(!write_config(&Config::default()).contains("hard_shutdown"));
}

// ---- property tests: arbitrary representable models ----

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    (1u8..=223, any::<u8>(), any::<u8>(), 1u8..=254)
        .prop_map(|(a, b, c, d)| Ipv4Addr::new(a, b, c, d))
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        4 => ipv4().prop_map(IpAddr::V4),
        1 => any::<[u16; 8]>()
            .prop_filter("specified", |s| s.iter().any(|x| *x != 0))
            .prop_map(|s| IpAddr::V6(Ipv6Addr::new(s[0] | 0x2000, s[1], s[2], s[3], s[4], s[5], s[6], s[7]))),
    ]
}

fn host() -> impl Strategy<Value = Host> {
    ip().prop_map(Host::literal)
}

/// The fleet extension: none, or some directors and a BGP side.
fn fleet() -> impl Strategy<Value = Fleet> {
    let peer = (ip(), 1u32..).prop_map(|(addr, asn)| BgpPeer { addr, asn });
    let some = (
        proptest::collection::vec(host(), 1..4),
        proptest::option::of(1u32..),
        proptest::collection::vec(peer, 0..2),
        proptest::option::of(ip()),
        any::<bool>(),
        proptest::option::of(word()),
    )
        .prop_map(
            |(directors, local_as, peers, next_hop, bfd, socket)| Fleet {
                directors,
                local_as,
                peers,
                next_hop,
                bfd,
                bird_socket: socket.unwrap_or_else(|| Fleet::default().bird_socket),
                ..Fleet::default()
            },
        );
    prop_oneof![2 => Just(Fleet::default()), 1 => some]
}

fn mask() -> impl Strategy<Value = Ipv4Addr> {
    (1u32..32).prop_map(|bits| Ipv4Addr::from(u32::MAX << (32 - bits)))
}

/// A bare word: no blanks, does not start with a quote.
fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_./:%-][a-zA-Z0-9_./:%\"=#-]{0,12}"
}

/// Free text for string values: blanks and double quotes allowed.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _./%\\\\\"=#{}-]{0,20}"
}

fn quoted() -> impl Strategy<Value = QuotedString> {
    prop_oneof![
        word().prop_map(|text| QuotedString {
            text,
            quote: Quote::None
        }),
        "[a-zA-Z0-9 _./%\\\\'=#-]{0,20}".prop_map(|text| QuotedString {
            text,
            quote: Quote::Double
        }),
        "[a-zA-Z0-9 _./%\\\\\"=#-]{0,20}".prop_map(|text| QuotedString {
            text,
            quote: Quote::Single
        }),
    ]
}

fn label() -> impl Strategy<Value = String> {
    "(eth|bond|ens)[0-9](:[0-9]{1,2})?"
}

fn addr_dev() -> impl Strategy<Value = AddressDevice> {
    (host(), label()).prop_map(|(host, device)| AddressDevice { host, device })
}

fn real_server() -> impl Strategy<Value = RealServer> {
    (
        word(),
        proptest::option::of(host()),
        any::<bool>(),
        any::<u16>(),
        0u32..=i32::MAX as u32,
    )
        .prop_map(|(name, address, active, port, weight)| RealServer {
            name,
            line: 0,
            address,
            active,
            port,
            weight,
        })
}

fn scheduler() -> impl Strategy<Value = String> {
    let all: Vec<&str> = LEGACY_SCHEDULERS
        .iter()
        .chain(EXTENSION_SCHEDULERS)
        .copied()
        .collect();
    proptest::sample::select(all).prop_map(String::from)
}

fn virtual_server() -> impl Strategy<Value = VirtualServer> {
    let a = (
        word(),
        any::<bool>(),
        proptest::option::of(addr_dev()),
        proptest::option::of(mask()),
        any::<u16>(),
        proptest::sample::select(vec![Protocol::Tcp, Protocol::Udp, Protocol::Sctp]),
        any::<u32>(),
        scheduler(),
        0u32..=i32::MAX as u32,
        proptest::option::of(mask()),
    );
    let b = (
        0u32..=i32::MAX as u32,
        0u32..=i32::MAX as u32,
        proptest::option::of(quoted()),
        proptest::option::of(quoted()),
        any::<bool>(),
        proptest::option::of(quoted()),
        proptest::option::of(word()),
        any::<bool>(),
        proptest::option::of((ip(), proptest::option::of(any::<u16>()))),
        word(),
    );
    let c = (
        proptest::option::of(quoted()),
        proptest::option::of(quoted()),
        proptest::option::of(host()),
        proptest::option::of(proptest::collection::vec("[a-z/]{1,8}", 0..3)),
        proptest::collection::vec(real_server(), 0..4),
        proptest::option::of(proptest::sample::select(vec![
            Network::Nat,
            Network::Direct,
            Network::Tunnel,
        ])),
    );
    (a, b, c).prop_map(|(a, b, c)| VirtualServer {
        name: a.0,
        line: 0,
        active: a.1,
        address: a.2,
        vip_nmask: a.3,
        port: a.4,
        protocol: a.5,
        fwmark: a.6,
        scheduler: a.7,
        persistent: a.8,
        pmask: a.9,
        timeout: b.0,
        reentry: b.1,
        send: b.2,
        expect: b.3,
        expect_at: (0, 0),
        use_regex: b.4,
        send_program: b.5,
        load_monitor: b.6,
        quiesce_server: b.7,
        announce: a.1 || b.7,
        scheduler_flags: if b.4 {
            vec!["mh-port".into()]
        } else {
            Vec::new()
        },
        sorry_server: b.8.map(|(addr, port)| SorryServer { addr, port }),
        network: c.5,
        client_monitor: b.9,
        start_cmd: c.0,
        stop_cmd: c.1,
        master: c.2,
        dirs: c.3,
        servers: c.4,
    })
}

fn config() -> impl Strategy<Value = Config> {
    let a = (
        any::<i64>(),
        proptest::sample::select(vec![ServiceType::Lvs, ServiceType::Fos]),
        proptest::option::of(host()),
        proptest::option::of(host()),
        proptest::option::of(word()),
        proptest::option::of(host()),
        proptest::option::of(host()),
        proptest::option::of(word()),
        any::<bool>(),
        any::<bool>(),
        any::<u16>(),
    );
    let b = (
        0u64..100_000,
        0u64..100_000,
        proptest::sample::select(vec![Network::Nat, Network::Direct, Network::Tunnel]),
        proptest::option::of(addr_dev()),
        proptest::option::of(mask()),
        text(),
        word(),
        any::<bool>(),
        word(),
        any::<u32>(),
    );
    let c = (
        (
            0u32..=i32::MAX as u32,
            0u32..=i32::MAX as u32,
            0u32..=i32::MAX as u32,
        ),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        word(),
        any::<bool>(),
        proptest::option::of(proptest::sample::select(vec![
            ReservationConflictAction::Nothing,
            ReservationConflictAction::Preempt,
        ])),
        proptest::collection::vec(virtual_server(), 0..4),
        proptest::collection::vec(virtual_server(), 0..2),
    );
    // The extensions (docs/differences.md).
    let d = (
        proptest::sample::select(vec![
            HeartbeatAuth::Off,
            HeartbeatAuth::Permissive,
            HeartbeatAuth::Enforce,
        ]),
        proptest::option::of(word()),
        any::<u8>(),
        proptest::option::of(1u64..100_000),
        any::<bool>(),
        proptest::option::of(1u64..100_000),
        proptest::option::of(proptest::sample::select(vec![
            "127.0.0.1:9180".parse::<std::net::SocketAddr>().unwrap(),
            "[::1]:9180".parse().unwrap(),
            "0.0.0.0:80".parse().unwrap(),
        ])),
        any::<bool>(),
        fleet(),
    );
    (a, b, c, d).prop_map(|(a, b, c, d)| {
        let mut cfg = Config {
            serial_no: a.0,
            service: a.1,
            primary: a.2,
            primary_private: a.3,
            primary_shared: a.4,
            backup: a.5,
            backup_private: a.6,
            backup_shared: a.7,
            backup_active: a.8,
            heartbeat: a.9,
            heartbeat_port: a.10,
            keepalive: Duration::from_millis(b.0),
            deadtime: Duration::from_millis(b.1),
            network: b.2,
            nat_router: b.3,
            nat_nmask: b.4,
            rsh_command: b.5,
            ipvsadm: b.6,
            syncdaemon: b.7,
            syncd_iface: b.8,
            syncd_id: b.9,
            tcp_timeout: c.0 .0,
            tcpfin_timeout: c.0 .1,
            udp_timeout: c.0 .2,
            hard_shutdown: c.1,
            monitor_links: c.2,
            active_cmd: c.3,
            inactive_cmd: c.4,
            debug_level: c.5,
            sync: c.6,
            reservation_conflict_action: c.7,
            heartbeat_auth: d.0,
            heartbeat_key: d.1,
            heartbeat_key_id: d.2,
            preempt_delay: d.3.map(Duration::from_millis),
            warm_standby: d.4,
            arp_refresh: d.5.map(Duration::from_millis),
            status_http: d.6,
            integrated_monitors: d.7,
            fleet: d.8,
            virtuals: c.8,
            failovers: c.9,
        };
        // The legacy private-address rule is part of the model's meaning: with `primary`
        // set, the private addresses are always defined.
        if cfg.primary.is_some() && cfg.primary_private.is_none() {
            cfg.primary_private = cfg.primary.clone();
            cfg.backup_private = cfg.backup.clone();
        }
        cfg
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn written_models_parse_back_to_themselves(cfg in config()) {
        let written = write_config(&cfg);
        let parsed = match parse_str(&written, "gen.cf", &ParseOptions { resolver: value::no_resolver }) {
            Ok(p) => p.config,
            Err(f) => return Err(TestCaseError::fail(format!("{f}\n--- written:\n{written}"))),
        };
        prop_assert!(parsed.same_settings(&cfg), "--- written:\n{}\n--- parsed:\n{:#?}\n--- generated:\n{:#?}", written, parsed, cfg);
    }

    #[test]
    fn writing_is_idempotent(cfg in config()) {
        let once = write_config(&cfg);
        let parsed = parse_str(&once, "gen.cf", &ParseOptions { resolver: value::no_resolver }).unwrap().config;
        prop_assert_eq!(write_config(&parsed), once);
    }
}
