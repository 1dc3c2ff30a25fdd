//! `lvsctl`: the operator's view of a director, over the daemons' control sockets
//! (docs/control.md).
//!
//!   lvsctl status [--json] [--watch[=SECONDS]] [--pulse-socket=PATH] [--lvsd-socket=PATH]
//!   lvsctl drain|enable VIRTUAL SERVER [--lvsd-socket=PATH]
//!   lvsctl metrics [--pulse-socket=PATH] [--lvsd-socket=PATH]
//!   lvsctl sync [--pulse-socket=PATH]
//!   lvsctl receive-config FILE [--pidfile=PATH]

mod receive;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use status_view::Sockets;

const USAGE: &str = "Usage: lvsctl status [OPTIONS]
       lvsctl drain VIRTUAL SERVER [--lvsd-socket=PATH]
       lvsctl enable VIRTUAL SERVER [--lvsd-socket=PATH]
       lvsctl metrics [--pulse-socket=PATH] [--lvsd-socket=PATH]
       lvsctl sync [--pulse-socket=PATH]
       lvsctl receive-config FILE [--pidfile=PATH]

status shows this director's role and its partner (from pulse) and each virtual service
with its real servers, their health, weights, connections and rates (from lvsd and IPVS).
drain sets real server SERVER of virtual service VIRTUAL (their lvs.cf names) to weight 0:
established connections finish, new ones go elsewhere; it stays drained across nanny
restarts, reloads and lvsd restarts until enable gives it its configured weight back.
metrics prints the same figures in the Prometheus text format (node_exporter's textfile
collector); piranha_up says which daemon answered.
sync has pulse push lvs.cf to the partner director now, over rsh_command, and prints what
the partner said. receive-config is that push's other end (run by pulse over ssh/rsh):
it reads lvs.cf on standard input after a header line giving its length and SHA-256,
installs nothing unless exactly that arrived, checks it, refuses one whose serial_no is
not newer than FILE's, keeps FILE.prev, replaces FILE and tells pulse (--pidfile,
default /var/run/pulse.pid; else lvsd's pid file beside it) to reload, if that pid file
is held by a running daemon.
-- ends the options: names after it may start with '-'.

  --json               one JSON object: {\"pulse\": ..., \"lvsd\": ...} (docs/control.md)
  --watch[=SECONDS]    refresh in place every SECONDS (default 2) until interrupted
  --pulse-socket=PATH  pulse's control socket (default /var/run/pulse.sock)
  --lvsd-socket=PATH   lvsd's control socket (default /var/run/lvs.sock)
  --version, --help
";

/// How long a daemon gets to answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(5);

struct Options {
    /// `status`, or `drain`/`enable` with the virtual service and real server names.
    command: Command,
    json: bool,
    watch: Option<Duration>,
    sockets: Sockets,
    /// receive-config: pulse's pid file (lvsd's is beside it).
    pidfile: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
enum Command {
    Status,
    Metrics,
    Drain { drain: bool, vs: String, rs: String },
    Sync,
    Receive { file: PathBuf },
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        command: Command::Status,
        json: false,
        watch: None,
        sockets: Sockets::default(),
        pidfile: PathBuf::from(daemon::pidfile::PULSE),
    };
    let mut command: Option<&str> = None;
    let mut names = Vec::new();
    let mut args = args.iter();
    for a in args.by_ref() {
        match a.as_str() {
            "--" => break,
            "--json" => o.json = true,
            "--watch" => o.watch = Some(Duration::from_secs(2)),
            _ if a.starts_with("--watch=") => {
                let secs: f64 = a["--watch=".len()..]
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s >= 0.1 && *s <= 3600.0)
                    .ok_or_else(|| format!("bad --watch interval: {a} (0.1 to 3600 seconds)"))?;
                o.watch = Some(Duration::from_secs_f64(secs));
            }
            _ if a.starts_with("--pulse-socket=") => {
                o.sockets.pulse = a["--pulse-socket=".len()..].into()
            }
            _ if a.starts_with("--lvsd-socket=") => {
                o.sockets.lvsd = a["--lvsd-socket=".len()..].into()
            }
            _ if a.starts_with("--pidfile=") => o.pidfile = a["--pidfile=".len()..].into(),
            "status" | "drain" | "enable" | "metrics" | "sync" | "receive-config"
                if command.is_none() =>
            {
                command = Some(a)
            }
            _ if matches!(command, Some("drain" | "enable" | "receive-config"))
                && !a.starts_with('-') =>
            {
                names.push(a.clone())
            }
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    // After `--`: names only, whatever they start with.
    names.extend(args.cloned());
    o.command = match (command, names.as_slice()) {
        (Some("status"), _) => Command::Status,
        (Some("metrics"), _) => Command::Metrics,
        (Some("sync"), _) => Command::Sync,
        (Some("receive-config"), [file]) => Command::Receive { file: file.into() },
        (Some("receive-config"), _) => {
            return Err("receive-config takes the file to replace".into())
        }
        (Some(c), [vs, rs]) => Command::Drain {
            drain: c == "drain",
            vs: vs.clone(),
            rs: rs.clone(),
        },
        (Some(c), _) => return Err(format!("{c} takes a virtual service and a real server")),
        (None, _) => return Err("no command given".into()),
    };
    Ok(o)
}

fn once(o: &Options) -> (String, bool) {
    let (pulse, lvsd) = status_view::collect(&o.sockets, ANSWER_LIMIT);
    let anyone = pulse.is_ok() || lvsd.is_ok();
    let text = if o.json {
        format!("{}\n", status_view::json(&pulse, &lvsd))
    } else {
        status_view::text::render(&pulse, &lvsd)
    };
    (text, anyone)
}

/// One command to one daemon: its message on stdout (0), or its refusal, or why it did
/// not answer, on stderr (1).
fn command(daemon: &str, socket: &Path, request: &Value, limit: Duration) -> i32 {
    match daemon::control::ask(socket, request, limit) {
        Ok(v) if v["ok"] == true => {
            println!("{}", v["message"].as_str().unwrap_or("done"));
            0
        }
        Ok(v) => {
            eprintln!("lvsctl: {}", v["error"].as_str().unwrap_or("refused"));
            1
        }
        Err(e) => {
            eprintln!(
                "lvsctl: {daemon} is not answering: {}: {e}",
                socket.display()
            );
            1
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return;
    }
    if args.iter().any(|a| a == "--version") {
        println!("lvsctl {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("lvsctl: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Command::Receive { file } = &o.command {
        let daemons = receive::Daemons {
            lvsd: o.pidfile.with_file_name("lvs.pid"),
            pulse: o.pidfile.clone(),
        };
        let mut input = std::io::stdin().lock();
        let (code, said) = receive::receive(file, &daemons, &mut input);
        println!("{said}");
        std::process::exit(code);
    }
    if o.command == Command::Sync {
        // pulse pushes lvs.cf now and answers with the partner's answer: longer than a
        // push may take (pulse::sync::PUSH_LIMIT, 20 s).
        let request = json!({"command": "sync"});
        let limit = Duration::from_secs(25);
        std::process::exit(command("pulse", &o.sockets.pulse, &request, limit));
    }
    if o.command == Command::Metrics {
        let (pulse, lvsd) = status_view::collect(&o.sockets, ANSWER_LIMIT);
        print!("{}", status_view::metrics::render(&pulse, &lvsd));
        // As status: 1 when neither daemon answered (the page still says piranha_up 0).
        std::process::exit(if pulse.is_ok() || lvsd.is_ok() { 0 } else { 1 });
    }
    if let Command::Drain { drain, vs, rs } = &o.command {
        let request = json!({"command": if *drain { "drain" } else { "enable" },
                             "virtual": vs, "server": rs});
        std::process::exit(command("lvsd", &o.sockets.lvsd, &request, ANSWER_LIMIT));
    }
    let Some(every) = o.watch else {
        let (text, anyone) = once(&o);
        print!("{text}");
        // 1: neither daemon answered (nothing runs here, or no permission).
        std::process::exit(if anyone { 0 } else { 1 });
    };
    loop {
        let (text, _) = once(&o);
        // Home and clear: the screen is redrawn in place.
        print!("\x1b[H\x1b[2J{text}");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        std::thread::sleep(every);
    }
}
