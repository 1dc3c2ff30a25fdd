//! A `failover` block as fos uses it (docs/legacy.md, "fos"): the commands that start and
//! stop the service, and the nanny that watches it through the virtual address.

use std::net::IpAddr;

use lvscf::{Protocol, QuotedString, VirtualServer};

/// One active failover service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub vip: IpAddr,
    pub port: u16,
    /// `start_cmd` and `stop_cmd` as argument vectors (none when not set).
    pub start: Option<Vec<String>>,
    pub stop: Option<Vec<String>>,
}

impl Service {
    /// The service of an active block that has an address; `None` otherwise.
    pub fn of(v: &VirtualServer) -> Option<Service> {
        Some(Service {
            name: v.name.clone(),
            vip: v.address.as_ref()?.addr(),
            port: v.port,
            start: v.start_cmd.as_ref().map(command_argv),
            stop: v.stop_cmd.as_ref().map(command_argv),
        })
        .filter(|_| v.active)
    }

    /// `VIP:PORT`, as the legacy messages name a service.
    pub fn label(&self) -> String {
        std::net::SocketAddr::new(self.vip, self.port).to_string()
    }
}

/// A command as fos runs it: double quotes stripped (as legacy), split on blanks, run
/// without a shell. Legacy split on each single space, so two spaces in a row made an
/// empty argument; blanks of any length separate here.
pub fn command_argv(q: &QuotedString) -> Vec<String> {
    q.as_passed()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// How fos starts a service's monitor (legacy order):
/// `NANNY -c -h VIP -V PARTNER -p PORT [-v] [-u] [-e PROG] [-s SEND] [-x EXPECT]
/// -t TIMEOUT [--nodaemon] --fos`.
pub fn nanny_argv(
    nanny: &str,
    v: &VirtualServer,
    vip: IpAddr,
    partner: IpAddr,
    verbose: bool,
    nodaemon: bool,
) -> Vec<String> {
    let mut a: Vec<String> = vec![nanny.into(), "-c".into(), "-h".into(), vip.to_string()];
    a.extend([
        "-V".into(),
        partner.to_string(),
        "-p".into(),
        v.port.to_string(),
    ]);
    if verbose {
        a.push("-v".into());
    }
    if v.protocol == Protocol::Udp {
        a.push("-u".into());
    }
    for (flag, value) in [("-e", &v.send_program), ("-s", &v.send), ("-x", &v.expect)] {
        if let Some(q) = value {
            a.extend([flag.to_string(), q.as_passed()]);
        }
    }
    a.extend(["-t".into(), v.timeout.to_string()]);
    if nodaemon {
        a.push("--nodaemon".into());
    }
    a.push("--fos".into());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str) -> VirtualServer {
        let cf = format!("service = fos\nprimary = 192.0.2.10\nfailover web {{\n{text}}}\n");
        lvscf::parse_str(&cf, "t", &lvscf::ParseOptions::default())
            .unwrap()
            .config
            .failovers
            .remove(0)
    }

    #[test]
    fn commands_lose_their_double_quotes_and_split_on_blanks() {
        let v = block(
            " active = 1\n address = 192.0.2.100 eth0:1\n port = 8080\n\
             start_cmd = \"/etc/init.d/httpd  start\"\n stop_cmd = /etc/init.d/httpd\n",
        );
        let s = Service::of(&v).unwrap();
        assert_eq!(s.label(), "192.0.2.100:8080");
        assert_eq!(s.start.unwrap(), ["/etc/init.d/httpd", "start"]);
        assert_eq!(s.stop.unwrap(), ["/etc/init.d/httpd"]);
        assert_eq!(
            Service::of(&block(" active = 0\n address = 192.0.2.1 eth0\n")),
            None
        );
    }

    #[test]
    fn the_monitor_command_line_keeps_the_legacy_order() {
        let v = block(
            " active = 1\n address = 192.0.2.100 eth0:1\n port = 21\n protocol = udp\n\
             send = \"QUIT\\r\\n\"\n expect = \"221\"\n timeout = 4\n",
        );
        let a = nanny_argv(
            "/usr/sbin/nanny",
            &v,
            "192.0.2.100".parse().unwrap(),
            "192.0.2.11".parse().unwrap(),
            true,
            true,
        );
        assert_eq!(
            a,
            [
                "/usr/sbin/nanny",
                "-c",
                "-h",
                "192.0.2.100",
                "-V",
                "192.0.2.11",
                "-p",
                "21",
                "-v",
                "-u",
                "-s",
                "QUIT\\r\\n",
                "-x",
                "221",
                "-t",
                "4",
                "--nodaemon",
                "--fos"
            ]
        );
    }
}
