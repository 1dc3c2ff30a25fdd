//! A `failover` block as fos uses it (docs/legacy.md, "fos"): the commands that start and
//! stop the service, and the monitor that watches it through the virtual address.

use std::net::IpAddr;

use lvscf::{Protocol, QuotedString, VirtualServer};
use nanny::monitor::Mode;
use nanny::spec::MonitorSpec;

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

/// The monitor fos runs for a service: a nanny probing it through the virtual address
/// on the partner; as a command line (legacy order)
/// `NANNY -c -h VIP -V PARTNER -p PORT [-v] [-u] [-e PROG] [-s SEND] [-x EXPECT]
/// -t TIMEOUT [--nodaemon] --fos`.
pub fn monitor_spec(
    nanny: &str,
    v: &VirtualServer,
    vip: IpAddr,
    partner: IpAddr,
    verbose: bool,
    nodaemon: bool,
) -> MonitorSpec {
    MonitorSpec {
        program: nanny.into(),
        server: vip,
        server_text: vip.to_string(),
        port: v.port,
        rport: v.port,
        virtual_address: Some(partner.to_string()),
        fwmark: 0,
        interval: v.timeout,
        reentry: 0,
        weight: 1,
        scale: 10,
        method: lvscf::Network::Nat,
        ipvsadm: lvscf::DEFAULT_IPVSADM.into(),
        load_cmd: None,
        send: v.send.as_ref().map(QuotedString::as_passed),
        expect: v.expect.as_ref().map(QuotedString::as_passed),
        send_program: v.send_program.as_ref().map(QuotedString::as_passed),
        regex: false,
        suppress: false,
        quiesce: false,
        // Legacy fos knew TCP and UDP only: an SCTP service is probed as before, by TCP.
        protocol: match v.protocol {
            Protocol::Udp => Protocol::Udp,
            _ => Protocol::Tcp,
        },
        verbose,
        nodaemon,
        nofork: true,
        test_start: false,
        mode: Mode::Fos,
        retries: 1,
    }
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
        let a = monitor_spec(
            "/usr/sbin/nanny",
            &v,
            "192.0.2.100".parse().unwrap(),
            "192.0.2.11".parse().unwrap(),
            true,
            true,
        )
        .to_argv();
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
