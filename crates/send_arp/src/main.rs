//! `send_arp`: sends one custom ARP frame (docs/legacy.md, "send_arp"). Kept for scripts
//! and sites that call it; pulse itself sends the same frames without forking it.
//!
//! `send_arp [-i dev] src_ip_addr src_hw_addr targ_ip_addr tar_hw_addr`: an ARP reply
//! from `src_hw_addr` to `tar_hw_addr` whose sender and target are both
//! (`src_hw_addr`, `src_ip_addr`); `targ_ip_addr` is read and ignored, as legacy did.
//! The frame goes out over AF_PACKET instead of the obsolete SOCK_PACKET; its 60 bytes
//! are the same.

use std::net::{IpAddr, Ipv4Addr};

use hostnet::packet_socket::PacketSender;
use hostnet::{ArpFrame, MacAddr};
use lvscf::value::{system_resolver, Resolution, RESOLVE_BUDGET};

const USAGE: &str = "send_arp: sends out custom ARP packet. Yuri Volobuev '97\n\
\tusage: send_arp [-i dev] src_ip_addr src_hw_addr targ_ip_addr tar_hw_addr\n";

fn usage() -> ! {
    eprint!("{USAGE}");
    std::process::exit(1);
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("send_arp: {what}: {e}");
    std::process::exit(1);
}

/// `inet_addr`, else an IPv4 host name (legacy: `gethostbyname`), resolved with lvscf's
/// resolution, which gives up after its time budget.
fn host(names: &Resolution, text: &str) -> Ipv4Addr {
    match names.host(text) {
        Ok(IpAddr::V4(a)) => a,
        _ => {
            eprintln!("send_arp: unknown host {text}");
            std::process::exit(1);
        }
    }
}

fn mac(text: &str) -> MacAddr {
    MacAddr::parse(text).unwrap_or_else(|| fail("bad hardware address", text))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dev, rest) = match args.as_slice() {
        [flag, dev, rest @ ..] if flag == "-i" && rest.len() == 4 => (dev.as_str(), rest),
        rest if rest.len() == 4 => ("eth0", rest),
        _ => usage(),
    };
    let names = Resolution::new(system_resolver, RESOLVE_BUDGET);
    let src_ip = host(&names, &rest[0]);
    let src_mac = mac(&rest[1]);
    let _ignored_target_ip = host(&names, &rest[2]);
    let dst_mac = mac(&rest[3]);
    let frame = ArpFrame {
        eth_dst: dst_mac,
        ..ArpFrame::gratuitous(src_mac, src_ip)
    };
    let ifindex = nix::net::if_::if_nametoindex(dev).unwrap_or_else(|e| fail(dev, e));
    let sender = PacketSender::open().unwrap_or_else(|e| fail("socket", e));
    sender
        .send(ifindex, &frame.encode())
        .unwrap_or_else(|e| fail("sendto", e));
}
