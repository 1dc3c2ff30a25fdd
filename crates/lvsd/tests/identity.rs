//! One service identity from lvs.cf to the kernel: for every virtual and real server,
//! the IPVS service nanny derives from the command line lvsd builds is the service lvsd
//! creates, the destination has the configured forwarding method, and the probe speaks
//! the service's protocol. (Before the shared identity an SCTP virtual's nannies keyed
//! their servers as TCP, and a fwmark service's family came from the real server in
//! nanny but from the VIP in lvsd.)

use lvsd::monitor_spec::{monitor_spec, LvsdFlags};
use nanny::check::Check;
use nanny::southbound::Target;
use nanny::spec::MonitorSpec;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Virtual {
    protocol: &'static str,
    vip6: bool,
    fwmark: u32,
    port: u16,
    servers: Vec<(bool, u16, u32)>,
}

fn virtual_strategy() -> impl Strategy<Value = Virtual> {
    (
        prop::sample::select(vec!["tcp", "udp", "sctp"]),
        any::<bool>(),
        prop_oneof![Just(0u32), 1u32..100_000],
        1u16..65535,
        prop::collection::vec((any::<bool>(), 0u16..65535, 0u32..1000), 1..4),
    )
        .prop_map(|(protocol, vip6, fwmark, port, servers)| Virtual {
            protocol,
            vip6,
            fwmark,
            port,
            servers,
        })
}

/// An lvs.cf with these virtuals. Real servers may be of the other family than the
/// VIP (tunnel mode allows it), which is where a family taken from the real server
/// went wrong.
fn config_text(network: &str, virtuals: &[Virtual]) -> String {
    let mut t = format!("network = {network}\nnat_router = 10.0.0.254 eth1:1\n");
    for (i, v) in virtuals.iter().enumerate() {
        let vip = if v.vip6 {
            format!("2001:db8::{}", i + 1)
        } else {
            format!("192.0.2.{}", i + 1)
        };
        t += &format!(
            "virtual v{i} {{\n active = 1\n address = {vip} eth0:{i}\n port = {}\n protocol = {}\n",
            v.port, v.protocol
        );
        if v.fwmark != 0 {
            t += &format!(" fwmark = {}\n", v.fwmark);
        }
        for (j, (rs6, rport, weight)) in v.servers.iter().enumerate() {
            let rip = if *rs6 {
                format!("2001:db8:1::{}{j}", i + 1)
            } else {
                format!("10.1.{}.{}", i + 1, j + 1)
            };
            t += &format!(
                " server r{j} {{\n  address = {rip}\n  port = {rport}\n  weight = {weight}\n  active = 1\n }}\n"
            );
        }
        t += "}\n";
    }
    t
}

fn check_agreement(text: &str) {
    let c = match lvscf::parse_str(text, "lvs.cf", &Default::default()) {
        Ok(p) => p.config,
        Err(e) => panic!("generated file does not parse: {e:?}\n{text}"),
    };
    let desired = lvsd::desired::desired(&c);
    for vs in c.active_virtuals() {
        let key = vs.service_key().expect("a VIP");
        assert!(desired.services.contains_key(&key), "lvsd creates {key}");
        for rs in vs.active_servers() {
            let spec = monitor_spec(&c, vs, rs, LvsdFlags::default());
            let argv = spec.to_argv();
            let Ok(o) = MonitorSpec::from_argv(&argv) else {
                panic!("nanny refuses {argv:?}");
            };
            // A nanny process reads the monitor an integrated one is given.
            assert_eq!(o, spec, "{argv:?}");
            let target = Target::from_options(&o).unwrap();
            assert_eq!(target.service, key, "{argv:?}");
            assert_eq!(
                target.dest(rs.weight).forward,
                c.network_of(vs).forward_method(),
                "{argv:?}"
            );
            match Check::from_options(&o).0 {
                Check::Net(probe) => assert_eq!(probe.protocol, vs.protocol, "{argv:?}"),
                _ => panic!("not a network check: {argv:?}"),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn nanny_derives_the_service_lvsd_creates(
        network in prop::sample::select(vec!["nat", "direct", "tunnel"]),
        virtuals in prop::collection::vec(virtual_strategy(), 1..4),
    ) {
        check_agreement(&config_text(network, &virtuals));
    }
}

#[test]
fn the_two_defects_the_shared_identity_fixed() {
    // An SCTP virtual, and an IPv6 fwmark virtual with an IPv4 real server (tunnel).
    let v = |protocol, vip6, fwmark, rs6| Virtual {
        protocol,
        vip6,
        fwmark,
        port: 80,
        servers: vec![(rs6, 80, 1)],
    };
    check_agreement(&config_text(
        "tunnel",
        &[v("sctp", false, 0, false), v("tcp", true, 5, false)],
    ));
}
