//! send_arp on a real interface, in network namespaces (testbed::lan; root).

use std::process::Command;
use std::time::Duration;

use hostnet::{ArpFrame, MacAddr};
use testbed::lan::{arp_replies, Capture, Lan};

const VIP: &str = "192.168.77.100";

#[test]
fn send_arp_sends_the_legacy_frame_and_keeps_its_usage_text() {
    let lan = Lan::create();
    let capture = Capture::start(&lan, "obs");
    let mac = MacAddr::parse(&lan.mac("d1")).unwrap();
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lan.ns("d1"),
            env!("CARGO_BIN_EXE_send_arp"),
        ])
        .args([
            "-i",
            "eth0",
            VIP,
            &mac.legacy_hex(),
            "192.168.77.255",
            "ffffffffffff",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(200));
    let frames = capture.finish();
    let expected = ArpFrame::gratuitous(mac, VIP.parse().unwrap()).encode();
    assert_eq!(
        arp_replies(&frames)
            .iter()
            .filter(|f| f[..] == expected[..])
            .count(),
        1
    );
    let usage = "send_arp: sends out custom ARP packet. Yuri Volobuev '97\n\tusage: send_arp [-i dev] src_ip_addr src_hw_addr targ_ip_addr tar_hw_addr\n";
    let refused = testbed::refusal(env!("CARGO_BIN_EXE_send_arp"), &["1.2.3.4"]);
    assert_eq!(refused, (Some(1), usage.to_string()));
}

#[test]
fn an_unknown_host_is_the_legacy_error_and_a_bounded_wait() {
    let started = std::time::Instant::now();
    for host in ["no-such-host.invalid", "2001:db8::1"] {
        let out = Command::new(env!("CARGO_BIN_EXE_send_arp"))
            .args([host, "001122334455", "10.0.0.255", "ffffffffffff"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("send_arp: unknown host {host}\n")
        );
    }
    // The resolver gets lvscf's budget (5 s), whatever the network does.
    assert!(started.elapsed() < Duration::from_secs(12));
}
