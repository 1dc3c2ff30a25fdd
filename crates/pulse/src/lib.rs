//! `pulse`: the director heartbeat and VIP takeover (docs/legacy.md, "pulse").
//!
//! * [`wire`]: the heartbeat datagram (legacy 4-byte magic, our signed trailer), pure.
//! * [`auth`]: signing and checking heartbeats (HMAC-SHA256, replay protection), pure.
//! * [`settings`]: lvs.cf and the command line worked out once: role, partner, timers,
//!   takeover addresses, commands.
//! * [`machine`]: the state machine, sans-IO ([`machine::Pulse`] is a `daemon` core),
//!   with the control requests and the configuration sync's decisions.
//! * [`shell`]: its IO: heartbeat sockets, addresses, announcements, lvsd, commands,
//!   the IPVS sync daemon.
//! * [`sources`]: what pulse listens to, as the state machine's events; [`start`]:
//!   its start-up checks. `main.rs` runs them on `daemon::runtime`.
//! * [`fleet`]: pulse as one of N active directors (docs/fleet.md): BIRD announces
//!   the VIPs while this director can serve them.
//! * [`sync`]: configuration sync to the partner (`sync = 1`): when to push, and the push.

pub mod auth;
pub mod fleet;
pub mod machine;
pub mod settings;
pub mod shell;
pub mod sources;
pub mod start;
pub mod sync;
pub mod wire;
