//! `hostnet`: what pulse does to the director's own network, without forking `ifconfig`
//! or `send_arp` (docs/legacy.md, "pulse activation").
//!
//! * [`frame`]: the announcement frames, pure encode/decode: the legacy `send_arp`
//!   gratuitous ARP reply ([`frame::ArpFrame`]) and the IPv6 unsolicited neighbour
//!   advertisement ([`frame::NeighbourAdvert`]).
//! * [`packet_socket`]: sends such frames out of one interface (AF_PACKET).
//! * [`rtnl`]: rtnetlink: the address messages (add/remove with an `eth0:1` label,
//!   prefix and broadcast), the link messages (up, carrier, MAC), and [`rtnl::Rtnl`], the
//!   connection that lists and changes them.
//! * [`monitor`]: link changes as they happen (the RTNLGRP_LINK multicast group), for an
//!   event loop.
//! * [`echo`]: ICMP echo to a neighbour (pulse's gateway check in fos mode).
//! * [`ledger`]: the file of addresses pulse added, so a pulse restarted after a crash
//!   removes its own leftovers and never anybody else's.
//! * [`tun`]: the interface a fleet director's BGP announcements hang on, which the
//!   kernel removes when pulse dies (docs/fleet.md).

pub mod echo;
pub(crate) mod frame;
pub mod ledger;
pub mod monitor;
pub mod packet_socket;
pub(crate) mod rtnl;
pub mod tun;

pub use frame::{ArpFrame, MacAddr, NeighbourAdvert};
pub use rtnl::{Address, Link, Rtnl};
