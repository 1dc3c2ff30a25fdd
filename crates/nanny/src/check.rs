//! The check a nanny runs, built from its command line exactly as legacy nanny built it
//! (docs/legacy.md, "nanny"): the default web check on port 80, escape conversion unless
//! `-T`, `-e` overriding `-s`, a regex that does not compile failing every probe. lvsd
//! builds the same check from the same command line for its start-up sweep.

use std::net::SocketAddr;
use std::time::Duration;

use crate::expect::Expect;
use crate::probe::{program_probe, NetProbe, Outcome};
use crate::spec::MonitorSpec;

/// The legacy default check when nothing is configured on port 80.
const HTTP_SEND: &str = "GET / HTTP/1.0\r\n\r\n";
const HTTP_EXPECT: &str = "HTTP";

pub enum Check {
    Net(NetProbe),
    /// `-e`: an external program.
    Program {
        command: String,
        host: String,
        port: u16,
        expect: Option<String>,
        timeout: Duration,
    },
    /// The expect regex did not compile: every probe fails (legacy).
    Broken,
}

impl Check {
    /// The check and the messages legacy logged while building it.
    pub fn from_options(o: &MonitorSpec) -> (Check, Vec<String>) {
        let mut notes = Vec::new();
        let mut send = o.send.clone();
        let mut expect = o.expect.clone();
        if o.send_program.is_some() && send.is_some() {
            send = None;
            notes.push(format!(
                "External program use requested: ({}), IGNORING send string option ((null))",
                o.send_program.as_deref().unwrap_or("")
            ));
        }
        // Decided on the virtual port, as legacy did.
        if o.port == 80 && send.is_none() && expect.is_none() && o.send_program.is_none() {
            notes.push("no monitor configured, assuming web service on port 80".into());
            send = Some(HTTP_SEND.into());
            expect = Some(HTTP_EXPECT.into());
        } else if !o.suppress {
            for s in [&mut send, &mut expect].into_iter().flatten() {
                let (converted, unknown) = lvscf::escape::convert(s);
                for u in unknown {
                    notes.push(format!(
                        "unknown escape sequence {u} kept as written in \"{s}\""
                    ));
                }
                *s = converted;
            }
        }
        let timeout = Duration::from_secs(o.interval.into());
        if let Some(command) = &o.send_program {
            let check = Check::Program {
                command: command.clone(),
                host: o.server.to_string(),
                port: o.rport,
                expect,
                timeout,
            };
            return (check, notes);
        }
        let expect = match expect.as_deref().map(|e| Expect::new(e, o.regex)) {
            None => None,
            Some(Ok(e)) => Some(e),
            Some(Err(msg)) => {
                notes.push(format!(
                    "Error '{msg}' processing expected regular expression"
                ));
                return (Check::Broken, notes);
            }
        };
        let check = Check::Net(NetProbe {
            target: SocketAddr::new(o.server, o.rport),
            protocol: o.protocol,
            send: send.map(String::into_bytes),
            expect,
            timeout,
        });
        (check, notes)
    }

    pub fn run(&self) -> Outcome {
        match self {
            Check::Net(n) => n.run(),
            Check::Program {
                command,
                host,
                port,
                expect,
                timeout,
            } => program_probe(command, host, *port, expect.as_deref(), *timeout),
            Check::Broken => Err("the expect regular expression is invalid".into()),
        }
    }

    /// The same check with a shorter time limit (network checks only).
    pub fn with_timeout(mut self, limit: Duration) -> Check {
        if let Check::Net(n) = &mut self {
            n.timeout = n.timeout.min(limit);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> MonitorSpec {
        let mut all = vec!["-h", "127.0.0.1", "-V", "192.0.2.1", "--lvs"];
        all.extend_from_slice(args);
        let all: Vec<String> = all.into_iter().map(String::from).collect();
        match crate::spec::parse(&all).unwrap() {
            crate::spec::Command::Run(o) => *o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn legacy_construction_rules() {
        let (c, notes) = Check::from_options(&options(&["-p", "80"]));
        assert!(matches!(&c, Check::Net(n) if n.send.as_deref() == Some(HTTP_SEND.as_bytes())));
        assert_eq!(
            notes,
            ["no monitor configured, assuming web service on port 80"]
        );
        let (c, notes) = Check::from_options(&options(&["-p", "81", "-e", "/bin/true", "-s", "x"]));
        assert!(matches!(c, Check::Program { .. }));
        assert!(notes[0].starts_with("External program use requested"));
        let (c, _) = Check::from_options(&options(&["-p", "81", "-s", r"a\r\n"]));
        assert!(matches!(&c, Check::Net(n) if n.send.as_deref() == Some(&b"a\r\n"[..])));
        let (c, _) = Check::from_options(&options(&["-p", "81", "-s", r"a\r\n", "-T"]));
        assert!(matches!(&c, Check::Net(n) if n.send.as_deref() == Some(&br"a\r\n"[..])));
        let (c, notes) = Check::from_options(&options(&["-p", "81", "-x", "(", "--regex"]));
        assert!(matches!(c, Check::Broken));
        assert!(notes[0].starts_with("Error '"), "{notes:?}");
        assert!(c.run().is_err());
    }
}
