//! The fleet extension (docs/fleet.md, lvs.cf(5) "FLEET"): N active directors sharing
//! each virtual service, each announcing its VIPs to the upstream router through BIRD
//! while it can serve them. The keywords are global and flat, as every legacy one is:
//! `director` (once per director), `bgp_local_as`, `bgp_peer`, `bgp_next_hop`, `bgp_bfd`,
//! `bird_socket`, `bird_include`; and `announce` and `scheduler_flags` in a virtual block.

use std::net::IpAddr;

use serde::Serialize;

use crate::model::Host;

/// Where pulse reaches BIRD by default (Debian's `bird2`).
pub const DEFAULT_BIRD_SOCKET: &str = "/run/bird/bird.ctl";
/// The file pulse writes for BIRD's `include` by default.
pub const DEFAULT_BIRD_INCLUDE: &str = "/run/piranha/bird.conf";
/// The first kernel with IPVS's Maglev scheduler (`ip_vs_mh`).
pub const MH_KERNEL: (u32, u32) = (4, 18);

/// One BGP neighbour of every director: the upstream router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BgpPeer {
    pub addr: IpAddr,
    pub asn: u32,
}

/// The fleet's settings; empty (no directors, no BGP) in a legacy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fleet {
    /// Every director of the fleet, this one included, in file order.
    pub directors: Vec<Host>,
    pub local_as: Option<u32>,
    pub peers: Vec<BgpPeer>,
    /// `None`: `self` (each director's own address toward the peer).
    pub next_hop: Option<IpAddr>,
    pub bfd: bool,
    pub bird_socket: String,
    pub bird_include: String,
}

impl Default for Fleet {
    fn default() -> Self {
        Fleet {
            directors: Vec::new(),
            local_as: None,
            peers: Vec::new(),
            next_hop: None,
            bfd: true,
            bird_socket: DEFAULT_BIRD_SOCKET.to_string(),
            bird_include: DEFAULT_BIRD_INCLUDE.to_string(),
        }
    }
}

impl Fleet {
    /// Whether the file configures a fleet at all (any of its global keywords).
    pub fn is_configured(&self) -> bool {
        !self.directors.is_empty() || self.local_as.is_some() || !self.peers.is_empty()
    }

    /// This director, found from the host's addresses as primary/backup are.
    pub fn this_director(&self, local: &[IpAddr]) -> Option<IpAddr> {
        self.directors
            .iter()
            .map(|h| h.addr)
            .find(|a| local.contains(a))
    }

    /// The other directors, seen from `own`.
    pub fn others(&self, own: IpAddr) -> impl Iterator<Item = IpAddr> + '_ {
        self.directors
            .iter()
            .map(|h| h.addr)
            .filter(move |a| *a != own)
    }
}

/// Global fleet keywords (extensions).
pub(crate) const FLEET_GLOBAL_KEYWORDS: &[&str] = &[
    "director",
    "bgp_local_as",
    "bgp_peer",
    "bgp_next_hop",
    "bgp_bfd",
    "bird_socket",
    "bird_include",
];

/// `scheduler_flags` values: ipvsadm's `-b` names.
pub const SCHEDULER_FLAGS: &[&str] = &["mh-fallback", "mh-port", "sh-fallback", "sh-port"];

/// The release's `major.minor`, from `uname -r` text such as `6.1.0-48-amd64`.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_read_from_uname_release_text() {
        assert_eq!(kernel_version("6.1.0-48-amd64"), Some((6, 1)));
        assert_eq!(kernel_version("4.18.0-553.el8.x86_64"), Some((4, 18)));
        assert_eq!(kernel_version("3.10.0"), Some((3, 10)));
        assert_eq!(kernel_version("garbage"), None);
        assert!(kernel_version("4.17.9").unwrap() < MH_KERNEL);
    }
}
