//! Generic netlink: the wire format ([`wire`]), the IPVS family's messages ([`packet`]),
//! and the socket that carries them ([`socket`]).

pub mod packet;
pub mod socket;
pub mod wire;
