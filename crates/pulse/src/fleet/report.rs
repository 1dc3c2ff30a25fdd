//! The fleet report (docs/fleet.md, "Who is up"), pure: the datagram each director sends
//! every other one every `keepalive`, for status only. It cannot be mistaken for a pair
//! heartbeat (its magic is none of the legacy ones), and with `heartbeat_auth` on it
//! carries an HMAC-SHA256 over everything before it, with the heartbeat key.
//!
//! Layout: `PFL1`, the key id (0 unsigned), a JSON body, then with a key the 32-byte tag.
//! Freshness: each director's reports are numbered within its start (`epoch`); an older
//! number of the same epoch is refused.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const MAGIC: &[u8; 4] = b"PFL1";
/// Reports longer than this are refused unread.
pub const MAX_REPORT: usize = 1400;
const TAG_LEN: usize = 32;

/// What one director says of itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub director: IpAddr,
    pub epoch: u64,
    pub seq: u64,
    pub announced: Vec<IpAddr>,
    pub connections: u64,
    #[serde(default)]
    pub connections_per_second: u64,
}

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Malformed(String),
    Unsigned,
    WrongKeyId(u8),
    BadSignature,
    /// Its `director` is not the address it came from.
    Spoofed,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Malformed(why) => write!(f, "malformed fleet report: {why}"),
            Refusal::Unsigned => f.write_str("unsigned fleet report (heartbeat_auth is on)"),
            Refusal::WrongKeyId(id) => write!(f, "fleet report signed with key id {id}"),
            Refusal::BadSignature => f.write_str("fleet report with a bad signature"),
            Refusal::Spoofed => f.write_str("fleet report naming another director"),
        }
    }
}

/// The key reports are signed with: the heartbeat key and its id.
#[derive(Clone)]
pub struct Signer {
    pub id: u8,
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer {{ id: {} }}", self.id)
    }
}

fn mac(key: &[u8], bytes: &[u8]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(bytes);
    m
}

pub fn encode(r: &Report, signer: Option<&Signer>) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(signer.map_or(0, |s| s.id));
    out.extend(serde_json::to_vec(r).unwrap_or_default());
    if let Some(s) = signer {
        let tag = mac(&s.key, &out).finalize().into_bytes();
        out.extend_from_slice(&tag);
    }
    out
}

/// A report from `from`, checked; `signer` when `heartbeat_auth` is on.
pub fn decode(bytes: &[u8], from: IpAddr, signer: Option<&Signer>) -> Result<Report, Refusal> {
    let malformed = |why: &str| Refusal::Malformed(why.to_string());
    if bytes.len() > MAX_REPORT {
        return Err(malformed("too long"));
    }
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| malformed("no magic"))?;
    let (&id, rest) = rest.split_first().ok_or_else(|| malformed("no key id"))?;
    let body = match (signer, id) {
        (None, _) => rest,
        (Some(_), 0) => return Err(Refusal::Unsigned),
        (Some(s), id) if id != s.id => return Err(Refusal::WrongKeyId(id)),
        (Some(s), _) => {
            let split = bytes.len().checked_sub(TAG_LEN).filter(|n| *n >= 5);
            let split = split.ok_or_else(|| malformed("too short for its tag"))?;
            let (signed, tag) = bytes.split_at(split);
            mac(&s.key, signed)
                .verify_slice(tag)
                .map_err(|_| Refusal::BadSignature)?;
            &rest[..rest.len() - TAG_LEN]
        }
    };
    let r: Report = serde_json::from_slice(body).map_err(|e| malformed(&e.to_string()))?;
    if r.director != from {
        return Err(Refusal::Spoofed);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            director: "10.0.0.11".parse().unwrap(),
            epoch: 7,
            seq: 3,
            announced: vec!["10.0.0.100".parse().unwrap()],
            connections: 42,
            connections_per_second: 3,
        }
    }

    #[test]
    fn reports_round_trip_signed_and_unsigned() {
        let from = report().director;
        let s = Signer {
            id: 2,
            key: vec![9; 32],
        };
        assert_eq!(decode(&encode(&report(), None), from, None), Ok(report()));
        assert_eq!(
            decode(&encode(&report(), Some(&s)), from, Some(&s)),
            Ok(report())
        );
    }

    #[test]
    fn forged_unsigned_spoofed_and_garbage_reports_are_refused() {
        let from = report().director;
        let s = Signer {
            id: 2,
            key: vec![9; 32],
        };
        let mut signed = encode(&report(), Some(&s));
        let n = signed.len();
        signed[n - 40] ^= 1;
        assert_eq!(decode(&signed, from, Some(&s)), Err(Refusal::BadSignature));
        assert_eq!(
            decode(&encode(&report(), None), from, Some(&s)),
            Err(Refusal::Unsigned)
        );
        let other = Signer {
            id: 3,
            key: vec![9; 32],
        };
        assert_eq!(
            decode(&encode(&report(), Some(&other)), from, Some(&s)),
            Err(Refusal::WrongKeyId(3))
        );
        let elsewhere: IpAddr = "10.0.0.12".parse().unwrap();
        assert_eq!(
            decode(&encode(&report(), None), elsewhere, None),
            Err(Refusal::Spoofed)
        );
        for junk in [&b""[..], b"PFL1", b"PFL1\0{", b"LINK", &[0u8; 2000]] {
            assert!(
                matches!(decode(junk, from, None), Err(Refusal::Malformed(_))),
                "{junk:?}"
            );
        }
        assert!(matches!(
            decode(b"PFL1\x02", from, Some(&s)),
            Err(Refusal::Malformed(_))
        ));
    }
}
