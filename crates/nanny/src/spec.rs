//! One monitor, typed: [`MonitorSpec`] says what to probe, how, how often and with which
//! weights. lvsd builds one per real server and fos one per failover service; a nanny
//! process gets it as its legacy command line ([`MonitorSpec::to_argv`], read back by
//! [`MonitorSpec::from_argv`]; the pair is tested as a round trip), an integrated monitor
//! inside lvsd takes it as it is.
//!
//! The command line (docs/legacy.md, "nanny"; the upstream popt table): every short and
//! long option of the source plus the man page's spellings (`--quiesce-server`, `--UDP`),
//! and two new ones: `--retries N` (default 1, the legacy behaviour) and `--protocol
//! tcp|udp|sctp` (how lvsd passes an SCTP service; `-u` is `--protocol udp`). lvsd's and
//! fos's lines keep the exact legacy order (docs/legacy.md, "The nanny command line"):
//! sites wrap nanny, and versions must interoperate.

use std::net::IpAddr;

use daemon::cli::{self, OptSpec};

use lvscf::{Network, Protocol};

use crate::monitor::Mode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    Interval,
    Ipvsadm,
    LoadCmd,
    Method,
    NoDaemon,
    NoFork,
    Port,
    RPort,
    Reentry,
    Scale,
    Server,
    SendProgram,
    Send,
    Expect,
    Regex,
    Suppress,
    Quiesce,
    Udp,
    Protocol,
    Verbose,
    VirtAddress,
    Fwmark,
    Weight,
    TestStart,
    Version,
    Fos,
    Lvs,
    Help,
    Retries,
}

const OPTIONS: &[OptSpec<Id>] = &[
    OptSpec::value(Id::Interval, Some('t'), &["interval"]),
    OptSpec::value(Id::Ipvsadm, Some('I'), &["ipvsadm"]),
    OptSpec::value(Id::LoadCmd, Some('U'), &["loadcmd"]),
    OptSpec::value(Id::Method, Some('M'), &["method"]),
    OptSpec::flag(Id::NoDaemon, Some('n'), &["nodaemon"]),
    OptSpec::flag(Id::NoFork, Some('c'), &["nofork"]),
    OptSpec::value(Id::Port, Some('p'), &["port"]),
    OptSpec::value(Id::RPort, Some('r'), &["rport"]),
    OptSpec::value(Id::Reentry, Some('a'), &["reentrytime"]),
    OptSpec::value(Id::Scale, Some('S'), &["scale"]),
    OptSpec::value(Id::Server, Some('h'), &["server"]),
    OptSpec::value(Id::SendProgram, Some('e'), &["send_program"]),
    OptSpec::value(Id::Send, Some('s'), &["send_string"]),
    OptSpec::value(Id::Expect, Some('x'), &["expect_string"]),
    OptSpec::flag(Id::Regex, None, &["regex"]),
    OptSpec::flag(Id::Suppress, Some('T'), &["suppress"]),
    OptSpec::flag(
        Id::Quiesce,
        Some('q'),
        &["quiesce_server", "quiesce-server"],
    ),
    OptSpec::flag(Id::Udp, Some('u'), &["udp", "UDP"]),
    OptSpec::value(Id::Protocol, None, &["protocol"]),
    OptSpec::flag(Id::Verbose, Some('v'), &["verbose"]),
    OptSpec::value(Id::VirtAddress, Some('V'), &["virtaddress"]),
    OptSpec::value(Id::Fwmark, Some('f'), &["fwmark"]),
    OptSpec::value(Id::Weight, Some('w'), &["weight"]),
    OptSpec::flag(Id::TestStart, None, &["test-start", "norun"]),
    OptSpec::flag(Id::Version, None, &["version"]),
    OptSpec::flag(Id::Fos, None, &["fos"]),
    OptSpec::flag(Id::Lvs, None, &["lvs"]),
    OptSpec::flag(Id::Help, Some('?'), &["help", "usage"]),
    OptSpec::value(Id::Retries, None, &["retries"]),
];

pub const USAGE: &str = "Usage: nanny [OPTION...]
  -h, --server=IP               real server (LVS) or VIP (FOS) to probe
  -p, --port=PORT               port of the virtual service (default 80)
  -r, --rport=PORT              port to probe on the real server (default: --port)
  -V, --virtaddress=IP          virtual service address
  -f, --fwmark=MARK             firewall mark of the virtual service
  -t, --interval=SECONDS        seconds between probes, and the probe timeout (default 10)
  -a, --reentrytime=SECONDS     healthy time before re-admission (default 180)
  -w, --weight=WEIGHT           weight of the real server (default 1)
  -S, --scale=N                 cap factor for load-based weights (default 10)
  -M, --method=m|g|i            forwarding: NAT, direct routing, tunnel (default m)
  -I, --ipvsadm=PATH            run this ipvsadm-compatible program instead of netlink
  -U, --loadcmd=CMD             load monitor: rsh, ssh, rup, ruptime, none or a command
  -s, --send_string=STRING      data to send after connecting
  -x, --expect_string=STRING    expected answer (\"*\" = any answer)
  -e, --send_program=COMMAND    external check program (%h = server, %p = port)
      --regex                   expect_string is a POSIX extended regular expression
  -T, --suppress                do not interpret backslash escapes
  -q, --quiesce_server          on failure set weight 0 instead of removing
  -u, --udp                     UDP service: probe over UDP
      --protocol=tcp|udp|sctp   the virtual service's protocol (default tcp)
      --retries=N               failed probes in a row that remove a server (default 1)
  -n, --nodaemon                run in the foreground, log to stdout and syslog
  -c, --nofork                  run as a daemon without forking
      --test-start, --norun     never change IPVS (probes still run)
      --lvs | --fos             service type (one is required)
  -v, --verbose                 debug logging
      --version                 print the version
  -?, --help                    this text
";

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonitorSpec {
    /// The monitor program (`client_monitor`; argv[0] of a nanny process).
    pub program: String,
    /// `-h`: the real server (LVS) or the virtual address on the partner (FOS), and its
    /// text as given.
    pub server: IpAddr,
    pub server_text: String,
    /// `-p` and `-r`: the virtual service's port and the port probed on the server.
    pub port: u16,
    pub rport: u16,
    /// `-V`: the virtual address (LVS), the partner director (FOS).
    pub virtual_address: Option<String>,
    /// `-f`: the virtual service's firewall mark (0: none).
    pub fwmark: u32,
    /// `-t`: seconds between probes, and a probe's time limit.
    pub interval: u32,
    /// `-a` as given (0: not given; [`MonitorSpec::reentry`] is the time in force).
    pub reentry: u32,
    /// `-w` and `-S`: the configured weight and the cap factor of load-based weights.
    pub weight: u32,
    pub scale: u32,
    /// Forwarding method (`-M m|g|i`).
    pub method: Network,
    /// `-I`: the ipvsadm-compatible program (the default means netlink).
    pub ipvsadm: String,
    /// `-U`: the load query, when given (`none` turns it off as not giving it does).
    pub load_cmd: Option<String>,
    /// `-s`, `-x`, `-e`: what to send, what to expect, a check program instead.
    pub send: Option<String>,
    pub expect: Option<String>,
    pub send_program: Option<String>,
    /// `--regex`: `expect` is an extended regular expression; `-T`: no escapes in it.
    pub regex: bool,
    pub suppress: bool,
    /// `-q`: a failed server is set to weight 0, not removed.
    pub quiesce: bool,
    /// The service's protocol, and how the server is probed.
    pub protocol: Protocol,
    /// `-v`, `--nodaemon`, `-c` (`--nofork`), `--test-start`.
    pub verbose: bool,
    pub nodaemon: bool,
    pub nofork: bool,
    pub test_start: bool,
    /// `--lvs` or `--fos`.
    pub mode: Mode,
    /// `--retries`: failed probes in a row that remove a server.
    pub retries: u32,
}

/// A command line nanny refuses: the message to print on stderr before exiting 1, in
/// the legacy wording where legacy had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgvError(pub String);

impl std::fmt::Display for ArgvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for ArgvError {
    fn from(s: String) -> ArgvError {
        ArgvError(s)
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(Box<MonitorSpec>),
    Version,
    Help,
}

/// `-u` and `--protocol`: `-u` alone is UDP (legacy), both must agree.
fn protocol(udp: bool, named: Option<&str>) -> Result<Protocol, String> {
    let p = match named {
        None => return Ok(if udp { Protocol::Udp } else { Protocol::Tcp }),
        Some(v) => Protocol::from_keyword(v)
            .ok_or_else(|| format!("nanny: bad argument --protocol: {v} (tcp, udp or sctp)"))?,
    };
    if udp && p != Protocol::Udp {
        return Err(format!("nanny: -u contradicts --protocol {}", p.keyword()));
    }
    Ok(p)
}

/// Parses the arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Command, ArgvError> {
    Ok(parse_options(args)?)
}

fn parse_options(args: &[String]) -> Result<Command, String> {
    let opts = cli::parse(OPTIONS, args).map_err(|e| e.legacy_message("nanny"))?;
    let o = cli::Options { opts };
    if o.has(Id::Help) {
        return Ok(Command::Help);
    }
    if o.has(Id::Version) {
        return Ok(Command::Version);
    }
    let int = |id: Id, name: &str, lo: i64, hi: i64, default: i64| -> Result<i64, String> {
        match o.value(id) {
            None => Ok(default),
            Some(v) => match lvscf::value::parse_int(v) {
                Ok(n) => in_range(name, n.value, lo, hi),
                // popt's text for a value that is not a number.
                Err(_) => Err(format!("nanny: bad argument {name}: invalid numeric value")),
            },
        }
    };
    // Read as numbers here; the ranges nanny allows are `validate`'s.
    let number = |id: Id, name: &str, default: i64| int(id, name, 0, u32::MAX.into(), default);
    let Some(server_text) = o.value(Id::Server).map(str::to_string) else {
        return Err("nanny: No address supplied. Use '--help' for help. ".into());
    };
    // Legacy took IPv4 only (inet_aton); IPv6 literals are an extension.
    let server = lvscf::value::parse_addr_literal(&server_text)
        .ok_or_else(|| format!("nanny: bad IP address -- {server_text}"))?;
    let mode = if o.has(Id::Fos) {
        Mode::Fos
    } else if o.has(Id::Lvs) {
        Mode::Lvs
    } else {
        return Err("nanny: unknown service type".into());
    };
    let port = int(Id::Port, "--port", 0, 65535, 80)? as u16;
    let spec = MonitorSpec {
        program: "nanny".into(),
        server,
        server_text,
        port,
        rport: int(Id::RPort, "--rport", 0, 65535, port.into())? as u16,
        virtual_address: o.value(Id::VirtAddress).map(str::to_string),
        fwmark: number(Id::Fwmark, "--fwmark", 0)? as u32,
        interval: number(Id::Interval, "--interval", 10)? as u32,
        reentry: number(Id::Reentry, "--reentrytime", 0)? as u32,
        weight: number(Id::Weight, "--weight", 1)? as u32,
        scale: number(Id::Scale, "--scale", 10)? as u32,
        method: Network::from_nanny_letter(o.value(Id::Method).unwrap_or("m")),
        ipvsadm: o
            .value(Id::Ipvsadm)
            .unwrap_or(lvscf::DEFAULT_IPVSADM)
            .to_string(),
        load_cmd: o.value(Id::LoadCmd).map(str::to_string),
        send: o.value(Id::Send).map(str::to_string),
        expect: o.value(Id::Expect).map(str::to_string),
        send_program: o.value(Id::SendProgram).map(str::to_string),
        regex: o.has(Id::Regex),
        suppress: o.has(Id::Suppress),
        quiesce: o.has(Id::Quiesce),
        protocol: protocol(o.has(Id::Udp), o.value(Id::Protocol))?,
        verbose: o.has(Id::Verbose),
        nodaemon: o.has(Id::NoDaemon),
        nofork: o.has(Id::NoFork),
        test_start: o.has(Id::TestStart),
        mode,
        retries: number(Id::Retries, "--retries", 1)? as u32,
    };
    spec.validate().map_err(|e| e.0)?;
    Ok(Command::Run(Box::new(spec)))
}

/// `value` if it is within `lo..=hi`, else popt's refusal.
fn in_range(name: &str, value: i64, lo: i64, hi: i64) -> Result<i64, String> {
    if (lo..=hi).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "nanny: bad argument {name}: value {value} out of range ({lo}..{hi})"
        ))
    }
}

impl MonitorSpec {
    /// The ranges nanny allows, in popt's words: the same refusal for a spec built by
    /// lvsd as for its command line. (Legacy divided by the interval: SIGFPE on 0.)
    pub fn validate(&self) -> Result<(), ArgvError> {
        let max = i64::from(i32::MAX);
        for (name, value, lo, hi) in [
            ("--fwmark", self.fwmark, 0, i64::from(u32::MAX)),
            ("--interval", self.interval, 1, max),
            ("--reentrytime", self.reentry, 0, max),
            ("--weight", self.weight, 0, max),
            ("--scale", self.scale, 1, 1000),
            ("--retries", self.retries, 1, 100),
        ] {
            in_range(name, value.into(), lo, hi)?;
        }
        Ok(())
    }

    /// The healthy time before re-admission: `--reentrytime`, or when not given (or 0)
    /// 180 s for LVS and one interval for FOS.
    pub fn reentry(&self) -> u32 {
        match (self.reentry, self.mode) {
            (0, Mode::Lvs) => 180,
            (0, Mode::Fos) => self.interval,
            (r, _) => r,
        }
    }

    /// A nanny process's argument vector (`argv[0]` is the program): lvsd's legacy order
    /// for an LVS monitor, fos's for a failover one; what neither legacy form has (a
    /// value another than the default) goes last, before the mode.
    pub fn to_argv(&self) -> Vec<String> {
        let mut a = Argv(vec![self.program.clone()]);
        if self.nofork {
            a.flag("-c");
        }
        a.pair("-h", &self.server_text);
        match self.mode {
            Mode::Lvs => self.lvs_order(&mut a),
            Mode::Fos => self.fos_order(&mut a),
        }
        self.extensions(&mut a);
        if self.nodaemon {
            a.flag("--nodaemon");
        }
        a.flag(match self.mode {
            Mode::Lvs => "--lvs",
            Mode::Fos => "--fos",
        });
        a.0
    }

    /// `-p VPORT -r RPORT [-f MARK] [-u | --protocol sctp] [-e PROG] [-s SEND] [-x EXPECT]
    /// [-q] [--regex] [-v] -a REENTRY -I IPVSADM -t TIMEOUT -w WEIGHT -V VIP -M m|g|i
    /// [-U LOADCMD]`.
    fn lvs_order(&self, a: &mut Argv) {
        a.pair("-p", self.port);
        a.pair("-r", self.rport);
        if self.fwmark != 0 {
            a.pair("-f", self.fwmark);
        }
        self.protocol_flag(a);
        self.exchange(a);
        a.flag_if(self.quiesce, "-q");
        a.flag_if(self.regex, "--regex");
        a.flag_if(self.verbose, "-v");
        a.pair("-a", self.reentry);
        a.pair("-I", &self.ipvsadm);
        a.pair("-t", self.interval);
        a.pair("-w", self.weight);
        if let Some(v) = &self.virtual_address {
            a.pair("-V", v);
        }
        a.pair("-M", self.method.nanny_letter());
        if let Some(l) = &self.load_cmd {
            a.pair("-U", l);
        }
    }

    /// `-V PARTNER -p PORT [-v] [-u] [-e PROG] [-s SEND] [-x EXPECT] -t TIMEOUT`.
    fn fos_order(&self, a: &mut Argv) {
        if let Some(v) = &self.virtual_address {
            a.pair("-V", v);
        }
        a.pair("-p", self.port);
        a.flag_if(self.verbose, "-v");
        self.protocol_flag(a);
        self.exchange(a);
        a.pair("-t", self.interval);
    }

    /// What a legacy form leaves out, when it is not the default.
    fn extensions(&self, a: &mut Argv) {
        let fos = self.mode == Mode::Fos;
        if fos {
            a.pair_if(self.rport != self.port, "-r", self.rport);
            a.pair_if(self.fwmark != 0, "-f", self.fwmark);
            a.flag_if(self.quiesce, "-q");
            a.flag_if(self.regex, "--regex");
            a.pair_if(self.reentry != 0, "-a", self.reentry);
            a.pair_if(self.ipvsadm != lvscf::DEFAULT_IPVSADM, "-I", &self.ipvsadm);
            a.pair_if(self.weight != 1, "-w", self.weight);
            a.pair_if(
                self.method != Network::Nat,
                "-M",
                self.method.nanny_letter(),
            );
            if let Some(l) = &self.load_cmd {
                a.pair("-U", l);
            }
        }
        a.pair_if(self.scale != 10, "-S", self.scale);
        a.flag_if(self.suppress, "-T");
        a.pair_if(self.retries != 1, "--retries", self.retries);
        a.flag_if(self.test_start, "--test-start");
    }

    fn protocol_flag(&self, a: &mut Argv) {
        match self.protocol {
            Protocol::Tcp => {}
            Protocol::Udp => a.flag("-u"),
            Protocol::Sctp => a.pair("--protocol", "sctp"),
        }
    }

    /// `[-e PROG] [-s SEND] [-x EXPECT]`.
    fn exchange(&self, a: &mut Argv) {
        for (flag, value) in [
            ("-e", &self.send_program),
            ("-s", &self.send),
            ("-x", &self.expect),
        ] {
            if let Some(v) = value {
                a.pair(flag, v);
            }
        }
    }

    /// A monitor from a nanny argument vector (`argv[0]` is the program).
    pub fn from_argv(argv: &[String]) -> Result<MonitorSpec, ArgvError> {
        let Some((program, args)) = argv.split_first() else {
            return Err(ArgvError("nanny: no program".into()));
        };
        match parse(args)? {
            Command::Run(mut spec) => {
                spec.program = program.clone();
                Ok(*spec)
            }
            Command::Help | Command::Version => Err(ArgvError(format!(
                "nanny: not a monitor's command line: {}",
                argv.join(" ")
            ))),
        }
    }

    /// The load query as `-U` names it (`none` when not given).
    pub fn load_query(&self) -> &str {
        self.load_cmd.as_deref().unwrap_or("none")
    }
}

/// An argument vector being built.
struct Argv(Vec<String>);

impl Argv {
    fn flag(&mut self, f: &str) {
        self.0.push(f.into());
    }

    fn flag_if(&mut self, on: bool, f: &str) {
        if on {
            self.flag(f);
        }
    }

    fn pair(&mut self, f: &str, v: impl ToString) {
        self.0.extend([f.to_string(), v.to_string()]);
    }

    fn pair_if(&mut self, on: bool, f: &str, v: impl ToString) {
        if on {
            self.pair(f, v);
        }
    }
}

/// The line a monitor logs when it starts (docs/legacy.md, "nanny"); an IPv6 VIP in
/// brackets, so that its port reads as one.
pub fn start_line(o: &MonitorSpec) -> String {
    let vip = o.virtual_address.clone().unwrap_or_else(|| "(null)".into());
    let vip = if vip.contains(':') {
        format!("[{vip}]")
    } else {
        vip
    };
    let server = std::net::SocketAddr::new(o.server, o.rport);
    match o.mode {
        Mode::Fos => format!("Failover service monitor for {vip}:{} started", o.port),
        Mode::Lvs => format!(
            "starting LVS client monitor for {vip}:{} -> {server}",
            o.port
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    fn run(s: &[&str]) -> MonitorSpec {
        match parse(&args(s)).unwrap() {
            Command::Run(o) => *o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_command_line_lvsd_builds() {
        // docs/legacy.md, "The worked example".
        let o = run(&[
            "-c",
            "-h",
            "10.0.0.21",
            "-p",
            "80",
            "-r",
            "8080",
            "-s",
            r"GET /health HTTP/1.0\r\n\r\n",
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
        ]);
        assert_eq!(o.server, "10.0.0.21".parse::<IpAddr>().unwrap());
        assert_eq!(
            (o.port, o.rport, o.interval, o.reentry(), o.weight),
            (80, 8080, 6, 15, 100)
        );
        assert!(o.nofork && o.nodaemon && o.quiesce && o.protocol == Protocol::Tcp);
        assert_eq!(o.send.as_deref(), Some(r"GET /health HTTP/1.0\r\n\r\n"));
        assert_eq!(o.virtual_address.as_deref(), Some("192.168.0.100"));
        assert_eq!(
            (o.method, o.mode, o.load_query()),
            (Network::Nat, Mode::Lvs, "none")
        );
        assert_eq!(o.retries, 1);
    }

    #[test]
    fn every_long_spelling() {
        let o = run(&[
            "--server=10.0.0.1",
            "--port=53",
            "--rport=5353",
            "--virtaddress=1.2.3.4",
            "--fwmark=7",
            "--interval=3",
            "--reentrytime=9",
            "--weight=0",
            "--scale=4",
            "--method=-g",
            "--ipvsadm=/x/ipvsadm",
            "--loadcmd=ssh",
            "--send_string=a",
            "--expect_string=b",
            "--send_program=/bin/true %h",
            "--regex",
            "--suppress",
            "--quiesce-server",
            "--UDP",
            "--verbose",
            "--nofork",
            "--nodaemon",
            "--norun",
            "--fos",
            "--retries=3",
        ]);
        assert_eq!(
            (
                o.port,
                o.rport,
                o.fwmark,
                o.interval,
                o.reentry(),
                o.weight,
                o.scale
            ),
            (53, 5353, 7, 3, 9, 0, 4)
        );
        assert_eq!(o.method, Network::Direct);
        assert!(
            o.regex
                && o.suppress
                && o.quiesce
                && o.protocol == Protocol::Udp
                && o.verbose
                && o.test_start
        );
        assert_eq!(o.mode, Mode::Fos);
        assert_eq!(o.retries, 3);
        let o = run(&[
            "-h",
            "10.0.0.1",
            "--lvs",
            "--quiesce_server",
            "--udp",
            "--test-start",
            "-M",
            "i",
            "-S",
            "2",
            "-T",
            "-u",
            "-e",
            "x",
            "-U",
            "rup",
        ]);
        assert!(o.quiesce && o.protocol == Protocol::Udp && o.test_start && o.suppress);
        assert_eq!(o.method, Network::Tunnel);
    }

    #[test]
    fn defaults() {
        let o = run(&["-h", "10.0.0.1", "--lvs"]);
        assert_eq!(
            (o.port, o.rport, o.interval, o.reentry(), o.weight, o.scale),
            (80, 80, 10, 180, 1, 10)
        );
        assert_eq!(
            (o.ipvsadm.as_str(), o.load_query(), o.method),
            ("/sbin/ipvsadm", "none", Network::Nat)
        );
        // FOS: reentry defaults to the interval.
        let o = run(&["-h", "10.0.0.1", "--fos", "-t", "4"]);
        assert_eq!(o.reentry(), 4);
        // -M with anything else is NAT; a leading dash is skipped.
        assert_eq!(Network::from_nanny_letter("x"), Network::Nat);
        assert_eq!(Network::from_nanny_letter("-g"), Network::Direct);
    }

    #[test]
    fn the_protocol_option() {
        let p = |s: &[&str]| {
            let mut a = vec!["-h", "10.0.0.1", "--lvs"];
            a.extend(s);
            parse(&args(&a)).map_err(|e| e.0).map(|c| match c {
                Command::Run(o) => o.protocol,
                _ => unreachable!(),
            })
        };
        assert_eq!(p(&[]), Ok(Protocol::Tcp));
        assert_eq!(p(&["-u"]), Ok(Protocol::Udp));
        assert_eq!(p(&["--protocol", "sctp"]), Ok(Protocol::Sctp));
        assert_eq!(p(&["--protocol=udp", "-u"]), Ok(Protocol::Udp));
        assert_eq!(
            p(&["--protocol", "icmp"]),
            Err("nanny: bad argument --protocol: icmp (tcp, udp or sctp)".into())
        );
        assert_eq!(
            p(&["-u", "--protocol", "sctp"]),
            Err("nanny: -u contradicts --protocol sctp".into())
        );
    }

    #[test]
    fn legacy_errors() {
        let err = |s: &[&str]| parse(&args(s)).unwrap_err().0;
        assert_eq!(
            err(&["--lvs"]),
            "nanny: No address supplied. Use '--help' for help. "
        );
        assert_eq!(
            err(&["-h", "10.0.0.300", "--lvs"]),
            "nanny: bad IP address -- 10.0.0.300"
        );
        assert_eq!(err(&["-h", "10.0.0.1"]), "nanny: unknown service type");
        assert_eq!(
            err(&["-h", "10.0.0.1", "--lvs", "--bogus"]),
            "nanny: bad argument --bogus: unknown option"
        );
        assert_eq!(
            err(&["-h", "10.0.0.1", "--lvs", "extra"]),
            "nanny: unexpected arguments"
        );
        assert_eq!(
            err(&["-h", "10.0.0.1", "--lvs", "-t", "x"]),
            "nanny: bad argument --interval: invalid numeric value"
        );
        assert!(
            err(&["-h", "10.0.0.1", "--lvs", "-t", "0"]).contains("out of range"),
            "legacy divided by zero"
        );
        assert_eq!(parse(&args(&["--version"])).unwrap(), Command::Version);
        assert_eq!(parse(&args(&["-?"])).unwrap(), Command::Help);
    }

    #[test]
    fn ipv6_servers_are_an_extension() {
        assert!(run(&["-h", "2001:db8::5", "--lvs"]).server.is_ipv6());
    }

    mod round_trip {
        use super::super::*;
        use proptest::prelude::*;

        fn address() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                any::<[u8; 4]>().prop_map(IpAddr::from),
                any::<[u8; 16]>().prop_map(IpAddr::from),
            ]
        }

        fn text() -> impl Strategy<Value = Option<String>> {
            proptest::option::of("\\PC{0,24}")
        }

        prop_compose! {
            fn probe()(
                send in text(), expect in text(), send_program in text(),
                regex in any::<bool>(), suppress in any::<bool>(),
                protocol in prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp), Just(Protocol::Sctp)],
            ) -> (Option<String>, Option<String>, Option<String>, bool, bool, Protocol) {
                (send, expect, send_program, regex, suppress, protocol)
            }
        }

        prop_compose! {
            fn spec()(
                program in prop_oneof![Just("/usr/sbin/nanny"), Just("/opt/nanny wrapper")],
                server in address(), port in any::<u16>(), rport in any::<u16>(),
                vip in proptest::option::of(address()), fwmark in any::<u32>(),
                interval in 1..=i32::MAX as u32, reentry in 0..=i32::MAX as u32,
                weight in 0..=i32::MAX as u32, scale in 1..=1000u32, retries in 1..=100u32,
                method in prop_oneof![Just(Network::Nat), Just(Network::Direct), Just(Network::Tunnel)],
                ipvsadm in prop_oneof![Just(lvscf::DEFAULT_IPVSADM), Just("/usr/local/bin/ipvsadm-wrap")],
                load_cmd in proptest::option::of(prop_oneof![Just("none"), Just("ssh"), Just("/bin/load %h")]),
                (send, expect, send_program, regex, suppress, protocol) in probe(),
                flags in any::<[bool; 5]>(),
                fos in any::<bool>(),
            ) -> MonitorSpec {
                let [quiesce, verbose, nodaemon, nofork, test_start] = flags;
                MonitorSpec {
                    program: program.into(), server, server_text: server.to_string(), port, rport,
                    virtual_address: vip.map(|v| v.to_string()), fwmark, interval, reentry,
                    weight, scale, method, ipvsadm: ipvsadm.into(),
                    load_cmd: load_cmd.map(str::to_string), send, expect, send_program, regex,
                    suppress, quiesce, protocol, verbose, nodaemon, nofork, test_start,
                    mode: if fos { Mode::Fos } else { Mode::Lvs }, retries,
                }
            }
        }

        proptest! {
            #[test]
            fn a_spec_is_its_command_line_read_back(s in spec()) {
                let argv = s.to_argv();
                prop_assert_eq!(MonitorSpec::from_argv(&argv), Ok(s), "{:?}", argv);
            }
        }
    }
}
