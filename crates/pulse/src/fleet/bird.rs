//! BIRD 2, as pulse drives it (docs/fleet.md, "Announcing through BIRD"), pure: the
//! include file pulse writes (one static protocol per VIP, the BGP sessions to the
//! routers, BFD), the control commands it sends, and the control socket's replies.
//!
//! The reply format (docs/fleet.md, "The BIRD control protocol"): lines of a four-digit
//! code and `-` (more follows) or a space (the last line); a line that starts with a
//! space continues the line before. Codes from 8000 up are errors; `0000` ends a reply
//! that has no final text of its own.

use std::fmt::Write as _;
use std::net::IpAddr;

/// The interface every VIP route points at ([`hostnet::tun`]): gone with pulse.
pub const TIE_INTERFACE: &str = "piranha0";

/// BIRD's protocol name for one VIP's static route.
pub fn protocol_name(vip: IpAddr) -> String {
    let text = vip.to_string().replace(['.', ':'], "_");
    format!("piranha_vip_{text}")
}

/// A director back on its link is announced again within seconds rather than BIRD's
/// default minute of `error wait time`; repeated flaps still back off up to 30 s.
const SESSION_TIMERS: &str =
    "connect delay time 1;\n  connect retry time 5;\n  error wait time 1, 30;";

/// What the include file is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// This director's address: the BGP sessions' local end.
    pub own: IpAddr,
    pub local_as: u32,
    pub peers: Vec<lvscf::fleet::BgpPeer>,
    pub next_hop: Option<IpAddr>,
    pub bfd: bool,
}

impl Include {
    pub fn from_config(c: &lvscf::Config, own: IpAddr) -> Include {
        let f = &c.fleet;
        Include {
            own,
            local_as: f.local_as.unwrap_or_default(),
            peers: f.peers.clone(),
            next_hop: f.next_hop,
            bfd: f.bfd,
        }
    }

    /// The file, with each VIP's protocol enabled or not as `vips` says, so that an
    /// operator's `birdc configure` keeps what pulse decided.
    pub fn render(&self, vips: &[(IpAddr, bool)]) -> String {
        let mut o = String::from(
            "# Written by pulse from lvs.cf (docs/fleet.md); every change here is lost.\n",
        );
        if self.bfd {
            o.push_str("protocol bfd piranha_bfd {\n  interface \"*\" {\n    min rx interval 100 ms;\n    min tx interval 100 ms;\n    multiplier 3;\n  };\n}\n");
        }
        for (vip, on) in vips {
            self.static_protocol(&mut o, *vip, *on);
        }
        for (i, p) in self.peers.iter().enumerate() {
            self.bgp_protocol(&mut o, i + 1, p, vips);
        }
        o
    }

    fn static_protocol(&self, o: &mut String, vip: IpAddr, on: bool) {
        let (family, len) = family(vip);
        let _ = writeln!(
            o,
            "protocol static {} {{\n  disabled {};\n  {family};\n  route {vip}/{len} via \"{TIE_INTERFACE}\";\n}}",
            protocol_name(vip),
            if on { "no" } else { "yes" },
        );
    }

    fn bgp_protocol(
        &self,
        o: &mut String,
        n: usize,
        p: &lvscf::fleet::BgpPeer,
        vips: &[(IpAddr, bool)],
    ) {
        let _ = writeln!(
            o,
            "protocol bgp piranha_peer_{n} {{\n  local {} as {};\n  neighbor {} as {};\n  {SESSION_TIMERS}",
            self.own, self.local_as, p.addr, p.asn
        );
        let next_hop = match self.next_hop {
            Some(a) => format!("next hop address {a}"),
            None => "next hop self".into(),
        };
        for fam in ["ipv4", "ipv6"] {
            if vips.iter().any(|(v, _)| family(*v).0 == fam) {
                let _ = writeln!(
                    o,
                    "  {fam} {{\n    import none;\n    export where proto ~ \"piranha_vip_*\";\n    {next_hop};\n  }};"
                );
            }
        }
        if self.bfd {
            o.push_str("  bfd on;\n");
        }
        o.push_str("}\n");
    }
}

fn family(vip: IpAddr) -> (&'static str, u8) {
    match vip {
        IpAddr::V4(_) => ("ipv4", 32),
        IpAddr::V6(_) => ("ipv6", 128),
    }
}

/// `enable "NAME"` or `disable "NAME"`: one VIP's route announced or withdrawn.
pub fn switch_command(vip: IpAddr, on: bool) -> String {
    let verb = if on { "enable" } else { "disable" };
    format!("{verb} \"{}\"\n", protocol_name(vip))
}

/// Re-read the configuration, and with it pulse's include file.
pub const CONFIGURE: &str = "configure\n";

/// One complete reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The last line's code.
    pub code: u16,
    /// Every line's text, in order.
    pub lines: Vec<String>,
}

impl Reply {
    /// BIRD's error codes (8000 and up); any of the reply's lines may carry one.
    pub fn error(&self) -> Option<&str> {
        (self.code >= 8000).then(|| self.lines.last().map_or("", String::as_str))
    }
}

/// Reads replies as they arrive: `push` the bytes read, `next` the complete reply.
#[derive(Debug, Default)]
pub struct ReplyReader {
    pending: Vec<u8>,
    lines: Vec<String>,
    /// The worst (highest) code of the reply so far.
    worst: u16,
}

/// A reply longer than this is an error (a BIRD that never ends its reply).
pub const MAX_REPLY: usize = 64 * 1024;

impl ReplyReader {
    pub fn push(&mut self, bytes: &[u8]) -> Result<Option<Reply>, String> {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            if let Some(reply) = self.line(line)? {
                return Ok(Some(reply));
            }
        }
        if self.pending.len() + self.lines.iter().map(String::len).sum::<usize>() > MAX_REPLY {
            return Err(format!("a reply longer than {MAX_REPLY} bytes"));
        }
        Ok(None)
    }

    fn line(&mut self, line: String) -> Result<Option<Reply>, String> {
        if let Some(rest) = line.strip_prefix(' ') {
            self.lines.push(rest.to_string());
            return Ok(None);
        }
        let (code, sep, text) =
            split(&line).ok_or_else(|| format!("not a reply line: {line:?}"))?;
        self.worst = self.worst.max(code);
        if code != 0 || !text.is_empty() {
            self.lines.push(text.to_string());
        }
        if sep == ' ' {
            let reply = Reply {
                code: std::mem::take(&mut self.worst).max(code),
                lines: std::mem::take(&mut self.lines),
            };
            return Ok(Some(reply));
        }
        Ok(None)
    }
}

/// `NNNN-text` or `NNNN text` (or `NNNN` alone).
fn split(line: &str) -> Option<(u16, char, &str)> {
    let code = line.get(..4)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sep = line[4..].chars().next().unwrap_or(' ');
    if sep != '-' && sep != ' ' {
        return None;
    }
    Some((code.parse().ok()?, sep, line.get(5..).unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<Reply> {
        let mut r = ReplyReader::default();
        let mut out = Vec::new();
        // Byte by byte: replies arrive in any pieces.
        for b in text.as_bytes() {
            if let Some(reply) = r.push(&[*b]).unwrap() {
                out.push(reply);
            }
        }
        out
    }

    #[test]
    fn replies_as_bird_2_sends_them() {
        let got = read("0001 BIRD 2.0.12 ready.\n0011-piranha_vip_10_0_0_1: enabled\n0000 \n0002-Reading configuration from /etc/bird/bird.conf\n0003 Reconfigured\n");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].code, 1);
        assert_eq!(got[1].lines, ["piranha_vip_10_0_0_1: enabled"]);
        assert_eq!(got[1].error(), None);
        assert_eq!(got[2].code, 3);
        assert_eq!(got[2].lines.len(), 2);
    }

    #[test]
    fn errors_continuations_and_garbage() {
        let got = read("9001 syntax error, unexpected CF_SYM_UNDEFINED\n");
        assert_eq!(
            got[0].error(),
            Some("syntax error, unexpected CF_SYM_UNDEFINED")
        );
        let got = read("8003-x: no such protocol\n continued\n0000 \n");
        assert_eq!(got[0].code, 8003);
        assert_eq!(got[0].lines, ["x: no such protocol", "continued"]);
        assert!(ReplyReader::default().push(b"hello\n").is_err());
        let mut r = ReplyReader::default();
        assert!(
            r.push(&vec![b'0'; MAX_REPLY + 1]).is_err(),
            "an endless line"
        );
    }

    #[test]
    fn the_include_names_each_vip_and_peer() {
        let inc = Include {
            own: "10.77.0.11".parse().unwrap(),
            local_as: 65001,
            peers: vec![lvscf::fleet::BgpPeer {
                addr: "10.77.0.1".parse().unwrap(),
                asn: 65000,
            }],
            next_hop: None,
            bfd: true,
        };
        let vip: IpAddr = "10.77.100.1".parse().unwrap();
        let text = inc.render(&[(vip, true), ("2001:db8::1".parse().unwrap(), false)]);
        assert!(text.contains("protocol static piranha_vip_10_77_100_1 {\n  disabled no;\n  ipv4;\n  route 10.77.100.1/32 via \"piranha0\";"), "{text}");
        assert!(text.contains("protocol static piranha_vip_2001_db8__1 {\n  disabled yes;\n  ipv6;\n  route 2001:db8::1/128"), "{text}");
        assert!(text.contains("local 10.77.0.11 as 65001;\n  neighbor 10.77.0.1 as 65000;"));
        assert!(
            text.contains("next hop self;")
                && text.contains("bfd on;")
                && text.contains("protocol bfd")
        );
        assert_eq!(
            switch_command(vip, false),
            "disable \"piranha_vip_10_77_100_1\"\n"
        );
    }
}
