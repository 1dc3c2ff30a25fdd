//! `lvsd`: the virtual service manager (reference §3). The pure core: the nanny command
//! lines ([`nanny_argv`]), the IPVS services lvs.cf asks for ([`desired`]), and the nanny
//! restart policy ([`supervise`]). The daemon itself (start-up, supervision, sorry
//! server, reload, shutdown) is not built yet; see issue 5.

pub mod config_file;
pub mod desired;
pub mod manager;
pub mod nanny_argv;
pub mod owned;
pub mod reload;
pub mod supervise;
