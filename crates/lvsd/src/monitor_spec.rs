//! The monitor lvsd runs for each active real server, as a typed spec
//! (`nanny::spec::MonitorSpec`): a nanny process gets it as the legacy command line, in
//! the exact legacy order (docs/legacy.md, "The nanny command line"): sites wrap nanny,
//! and pulse/lvsd/nanny of different versions must interoperate. The one addition is
//! `--protocol sctp` for an SCTP virtual (legacy knew no SCTP; TCP and UDP lines are
//! unchanged). An integrated monitor takes the spec as it is.

use lvscf::{Config, RealServer, VirtualServer};
use nanny::monitor::Mode;
use nanny::spec::MonitorSpec;

/// How lvsd itself runs, as far as its nannies are concerned.
#[derive(Debug, Clone, Copy, Default)]
pub struct LvsdFlags {
    /// `-v`: passed on.
    pub verbose: bool,
    /// `--nodaemon`: nannies log to stdout too.
    pub nodaemon: bool,
}

/// The monitor of real server `rs` of `vs`; as a command line
/// `<client_monitor> -c -h RIP -p VPORT -r RPORT [-f MARK] [-u | --protocol sctp] [-e PROG]
/// [-s SEND] [-x EXPECT] [-q] [--regex] [-v] -a REENTRY -I IPVSADM -t TIMEOUT -w WEIGHT
/// -V VIP -M m|g|i [-U LOADCMD] [--nodaemon] --lvs`.
pub fn monitor_spec(
    c: &Config,
    vs: &VirtualServer,
    rs: &RealServer,
    flags: LvsdFlags,
) -> MonitorSpec {
    let server = rs.address.as_ref().map_or([0, 0, 0, 0].into(), |h| h.addr);
    let vip = vs
        .vip()
        .map_or_else(|| "0.0.0.0".to_string(), |a| a.to_string());
    // Double quotes are stripped; single quotes stay part of the value (legacy).
    let passed = |q: &Option<lvscf::QuotedString>| q.as_ref().map(|q| q.as_passed());
    MonitorSpec {
        program: vs.client_monitor.clone(),
        server,
        server_text: server.to_string(),
        port: vs.port,
        rport: rs.port,
        virtual_address: Some(vip),
        fwmark: vs.fwmark,
        interval: vs.timeout,
        reentry: vs.reentry,
        weight: rs.weight,
        scale: 10,
        method: c.network_of(vs),
        ipvsadm: c.ipvsadm.clone(),
        load_cmd: vs.load_monitor.as_ref().map(|lm| load_command(c, lm)),
        send: passed(&vs.send),
        expect: passed(&vs.expect),
        send_program: passed(&vs.send_program),
        regex: vs.use_regex,
        suppress: false,
        // A fleet's entries are never removed: a re-added one would change the IPVS
        // list's order, and with it the Maglev table, on this director alone.
        quiesce: vs.quiesce_server || c.is_fleet(),
        protocol: vs.protocol,
        verbose: flags.verbose,
        // With a sorry server lvsd reads the nannies' output, so they print it.
        nodaemon: flags.nodaemon || vs.sorry_server.is_some(),
        nofork: true,
        test_start: false,
        mode: Mode::Lvs,
        retries: 1,
    }
}

/// `uptime` goes through rsh_command; anything else is passed verbatim.
fn load_command(c: &Config, load_monitor: &str) -> String {
    if load_monitor == "uptime" {
        c.rsh_command.clone()
    } else {
        load_monitor.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFERENCE: &str = include_str!("../../lvscf/tests/data/reference-1.9.cf");

    fn config() -> Config {
        lvscf::parse_str(REFERENCE, "lvs.cf", &lvscf::ParseOptions::default())
            .unwrap()
            .config
    }

    #[test]
    fn the_reference_worked_example() {
        // docs/legacy.md, "The worked example": virtual `www`.
        let c = config();
        let www = &c.virtuals[0];
        let argv = monitor_spec(&c, www, &www.servers[0], LvsdFlags::default()).to_argv();
        let expected: Vec<&str> = r#"/usr/sbin/nanny
-c
-h
10.0.0.21
-p
80
-r
8080
-s
GET /health HTTP/1.0\r\nHost: www.example.com\r\n\r\n
-x
HTTP/1.1 200
-q
-a
15
-I
/sbin/ipvsadm
-t
6
-w
100
-V
192.168.0.100
-M
m
-U
none
--nodaemon
--lvs"#
            .lines()
            .collect();
        assert_eq!(argv, expected);
    }

    #[test]
    fn udp_program_check_and_fwmark_with_uptime_load() {
        // docs/legacy.md, "The worked example", step 4.
        let c = config();
        let dns = &c.virtuals[1];
        let argv = monitor_spec(&c, dns, &dns.servers[0], LvsdFlags::default()).to_argv();
        assert_eq!(
            argv.join(" "),
            "/usr/sbin/nanny -c -h 10.0.0.31 -p 53 -r 53 -u -e /usr/local/sbin/check_dns %h %p -x OK -a 20 \
             -I /sbin/ipvsadm -t 5 -w 1 -V 192.168.0.101 -M m -U none --lvs"
        );
        let fwm = &c.virtuals[2];
        let argv = monitor_spec(
            &c,
            fwm,
            &fwm.servers[0],
            LvsdFlags {
                verbose: true,
                nodaemon: true,
            },
        )
        .to_argv();
        let expected: Vec<&str> = r#"/usr/sbin/nanny
-c
-h
10.0.0.41
-p
80
-r
80
-f
80
-s
GET / HTTP/1.0\r\n\r\n
-x
*
-v
-a
180
-I
/sbin/ipvsadm
-t
10
-w
2
-V
192.168.0.102
-M
m
-U
ssh
--nodaemon
--lvs"#
            .lines()
            .collect();
        assert_eq!(argv, expected);
    }

    /// The nanny command line of the first server of the first virtual of `text`.
    fn first_argv(text: &str) -> Vec<String> {
        let c = lvscf::parse_str(text, "f", &lvscf::ParseOptions::default())
            .unwrap()
            .config;
        let v = &c.virtuals[0];
        monitor_spec(&c, v, &v.servers[0], LvsdFlags::default()).to_argv()
    }

    #[test]
    fn single_quotes_stay_and_regex_and_methods() {
        let argv = first_argv(
            "network = tunnel\nvirtual v {\n active = 1\n address = 10.0.0.1 eth0:1\n send = 'a b'\n \
             expect = \"^OK\"\n use_regex = 1\n client_monitor = /opt/nanny\n server s {\n address = 10.0.1.1\n \
             active = 1\n }\n}\n",
        );
        assert_eq!(argv[0], "/opt/nanny");
        assert!(argv.windows(2).any(|w| w == ["-s", "'a b'"]), "{argv:?}");
        assert!(argv.windows(2).any(|w| w == ["-x", "^OK"]));
        assert!(argv.contains(&"--regex".to_string()));
        assert!(argv.windows(2).any(|w| w == ["-M", "i"]));
        assert!(!argv.contains(&"-U".to_string()), "no load_monitor: no -U");
    }

    #[test]
    fn a_virtual_service_with_its_own_network_gets_its_own_method() {
        let argv = first_argv(
            "network = nat\nvirtual v {\n active = 1\n address = 10.0.0.1 eth0:1\n network = direct\n \
             server s {\n address = 10.0.0.21\n active = 1\n }\n}\n",
        );
        assert!(argv.windows(2).any(|w| w == ["-M", "g"]), "{argv:?}");
    }
}
