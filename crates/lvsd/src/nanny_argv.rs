//! The nanny command line lvsd builds for each active real server, in the exact legacy
//! order (docs/legacy.md, "The nanny command line"): sites wrap nanny, and
//! pulse/lvsd/nanny of different versions must interoperate. The one addition is
//! `--protocol sctp` for an SCTP virtual (legacy knew no SCTP; TCP and UDP lines are
//! unchanged).

use lvscf::{Config, RealServer, VirtualServer};

/// How lvsd itself runs, as far as its nannies are concerned.
#[derive(Debug, Clone, Copy, Default)]
pub struct LvsdFlags {
    /// `-v`: passed on.
    pub verbose: bool,
    /// `--nodaemon`: nannies log to stdout too.
    pub nodaemon: bool,
}

/// `<client_monitor> -c -h RIP -p VPORT -r RPORT [-f MARK] [-u | --protocol sctp] [-e PROG] [-s SEND]
/// [-x EXPECT] [-q] [--regex] [-v] -a REENTRY -I IPVSADM -t TIMEOUT -w WEIGHT -V VIP
/// -M m|g|i [-U LOADCMD] [--nodaemon] --lvs`.
pub fn nanny_argv(
    c: &Config,
    vs: &VirtualServer,
    rs: &RealServer,
    flags: LvsdFlags,
) -> Vec<String> {
    let mut a: Vec<String> = vec![vs.client_monitor.clone(), "-c".into()];
    let rip = rs
        .address
        .as_ref()
        .map(|h| h.addr.to_string())
        .unwrap_or_else(|| "0.0.0.0".into());
    a.extend([
        "-h".into(),
        rip,
        "-p".into(),
        vs.port.to_string(),
        "-r".into(),
        rs.port.to_string(),
    ]);
    if vs.fwmark != 0 {
        a.extend(["-f".into(), vs.fwmark.to_string()]);
    }
    match vs.protocol {
        lvscf::Protocol::Tcp => {}
        lvscf::Protocol::Udp => a.push("-u".into()),
        lvscf::Protocol::Sctp => a.extend(["--protocol".into(), "sctp".into()]),
    }
    // Double quotes are stripped; single quotes stay part of the value (legacy).
    if let Some(p) = &vs.send_program {
        a.extend(["-e".into(), p.as_passed()]);
    }
    if let Some(s) = &vs.send {
        a.extend(["-s".into(), s.as_passed()]);
    }
    if let Some(x) = &vs.expect {
        a.extend(["-x".into(), x.as_passed()]);
    }
    if vs.quiesce_server {
        a.push("-q".into());
    }
    if vs.use_regex {
        a.push("--regex".into());
    }
    if flags.verbose {
        a.push("-v".into());
    }
    let vip = vs
        .vip()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "0.0.0.0".into());
    a.extend([
        "-a".into(),
        vs.reentry.to_string(),
        "-I".into(),
        c.ipvsadm.clone(),
        "-t".into(),
        vs.timeout.to_string(),
        "-w".into(),
        rs.weight.to_string(),
        "-V".into(),
        vip,
        "-M".into(),
        c.network_of(vs).nanny_letter().to_string(),
    ]);
    if let Some(lm) = &vs.load_monitor {
        // `uptime` goes through rsh_command; anything else is passed verbatim.
        let cmd = if lm == "uptime" {
            c.rsh_command.clone()
        } else {
            lm.clone()
        };
        a.extend(["-U".into(), cmd]);
    }
    // With a sorry server lvsd reads the nannies' output, so they print it.
    if flags.nodaemon || vs.sorry_server.is_some() {
        a.push("--nodaemon".into());
    }
    a.push("--lvs".into());
    a
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
        let argv = nanny_argv(&c, www, &www.servers[0], LvsdFlags::default());
        let expected = [
            "/usr/sbin/nanny",
            "-c",
            "-h",
            "10.0.0.21",
            "-p",
            "80",
            "-r",
            "8080",
            "-s",
            r"GET /health HTTP/1.0\r\nHost: www.example.com\r\n\r\n",
            "-x",
            "HTTP/1.1 200",
            "-q",
            "-a",
            "15",
            "-I",
            "/sbin/ipvsadm",
            "-t",
            "6",
            "-w",
            "100",
            "-V",
            "192.168.0.100",
            "-M",
            "m",
            "-U",
            "none",
            "--nodaemon",
            "--lvs",
        ];
        assert_eq!(argv, expected);
    }

    #[test]
    fn udp_program_check_and_fwmark_with_uptime_load() {
        // docs/legacy.md, "The worked example", step 4.
        let c = config();
        let dns = &c.virtuals[1];
        let argv = nanny_argv(&c, dns, &dns.servers[0], LvsdFlags::default());
        assert_eq!(
            argv.join(" "),
            "/usr/sbin/nanny -c -h 10.0.0.31 -p 53 -r 53 -u -e /usr/local/sbin/check_dns %h %p -x OK -a 20 \
             -I /sbin/ipvsadm -t 5 -w 1 -V 192.168.0.101 -M m -U none --lvs"
        );
        let fwm = &c.virtuals[2];
        let argv = nanny_argv(
            &c,
            fwm,
            &fwm.servers[0],
            LvsdFlags {
                verbose: true,
                nodaemon: true,
            },
        );
        let expected = [
            "/usr/sbin/nanny",
            "-c",
            "-h",
            "10.0.0.41",
            "-p",
            "80",
            "-r",
            "80",
            "-f",
            "80",
            "-s",
            r"GET / HTTP/1.0\r\n\r\n",
            "-x",
            "*",
            "-v",
            "-a",
            "180",
            "-I",
            "/sbin/ipvsadm",
            "-t",
            "10",
            "-w",
            "2",
            "-V",
            "192.168.0.102",
            "-M",
            "m",
            "-U",
            "ssh",
            "--nodaemon",
            "--lvs",
        ];
        assert_eq!(argv, expected);
    }

    /// The nanny command line of the first server of the first virtual of `text`.
    fn first_argv(text: &str) -> Vec<String> {
        let c = lvscf::parse_str(text, "f", &lvscf::ParseOptions::default())
            .unwrap()
            .config;
        let v = &c.virtuals[0];
        nanny_argv(&c, v, &v.servers[0], LvsdFlags::default())
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
