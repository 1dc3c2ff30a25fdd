//! The heartbeat on the wire (docs/legacy.md, "Heartbeat wire format"): one 4-byte word in
//! the sender's byte order, little-endian on the x86 directors legacy pulse ran on, which
//! is what we send so a legacy partner reads us. A receiver reads the first four bytes
//! and ignores the rest, so our authenticated heartbeats append a trailer ([`Trailer`])
//! that a legacy pulse never looks at.
//!
//! Trailer (72 bytes, after the magic; integers big-endian; docs/legacy.md, "Authenticated
//! heartbeats"):
//!
//! | bytes | field |
//! |---|---|
//! | 4..8 | tag `50 48 42 02` ("PHB", version 2) |
//! | 8 | key id |
//! | 9 | sender role: 1 primary, 2 backup (a heartbeat reflected back is refused) |
//! | 10..12 | zero |
//! | 12..20 | sender's epoch: random, new at every start |
//! | 20..28 | sequence number within the epoch, from 1, the same on both channels |
//! | 28..36 | sender's challenge: the value the receiver must echo |
//! | 36..44 | echo: the receiver's challenge as the sender last heard it (0: none yet) |
//! | 44..76 | HMAC-SHA256 over bytes 0..44 |

use std::fmt;

/// The heartbeat words (host order values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Magic {
    /// The sender runs LVS (is active).
    LvsRunning,
    /// The sender's LVS is stopped (inactive).
    LvsStopped,
    FosRunning,
    FosStopped,
    /// FOS: "stop, I take over".
    StopMe,
    /// Accepted but disables the logic (legacy HOLD/HELD).
    Hold,
    Held,
}

impl Magic {
    pub(crate) const ALL: [Magic; 7] = [
        Magic::LvsRunning,
        Magic::LvsStopped,
        Magic::FosRunning,
        Magic::FosStopped,
        Magic::StopMe,
        Magic::Hold,
        Magic::Held,
    ];

    /// How status reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Magic::LvsRunning | Magic::FosRunning => "running",
            Magic::LvsStopped | Magic::FosStopped => "stopped",
            Magic::StopMe => "stop me",
            Magic::Hold => "hold",
            Magic::Held => "held",
        }
    }

    pub fn word(self) -> u32 {
        match self {
            Magic::LvsRunning => 0xBDAD_DBDA,
            Magic::LvsStopped => 0xADBD_DABD,
            Magic::FosRunning => 0xBEEF_BABE,
            Magic::FosStopped => 0xDEAD_BEEF,
            Magic::StopMe => 0xDEAD_DADA,
            Magic::Hold => 0xDEAF_BABE,
            Magic::Held => 0xDEAF_DADA,
        }
    }

    pub(crate) fn from_word(w: u32) -> Option<Magic> {
        Magic::ALL.into_iter().find(|m| m.word() == w)
    }

    /// The four bytes an x86 legacy pulse sends.
    pub fn bytes(self) -> [u8; 4] {
        self.word().to_le_bytes()
    }
}

/// What a datagram holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The word as read (little-endian); not necessarily a known [`Magic`].
    pub word: u32,
    pub trailer: Option<Trailer>,
}

/// The authentication trailer of our heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    pub fields: Fields,
    pub mac: [u8; 32],
}

/// The trailer's signed fields (what [`signed_part`] lays out after the magic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    pub key_id: u8,
    pub role: u8,
    pub epoch: u64,
    pub seq: u64,
    pub challenge: u64,
    pub echo: u64,
}

/// Version 2: epoch, challenge and echo (version 1, a sequence number alone, is not read).
pub(crate) const TAG: [u8; 4] = [0x50, 0x48, 0x42, 0x02];
/// Length of the signed part (magic and trailer header).
pub(crate) const SIGNED_LEN: usize = 44;
pub(crate) const AUTH_LEN: usize = SIGNED_LEN + 32;

/// Why a datagram is not a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooShort(pub usize);

impl fmt::Display for TooShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad heartbeat packet")
    }
}

impl Heartbeat {
    /// Reads a datagram as legacy pulse does: four bytes or more, the first four count;
    /// a trailer is recognised by its tag and length.
    pub fn decode(b: &[u8]) -> Result<Heartbeat, TooShort> {
        let word: [u8; 4] = b
            .get(..4)
            .and_then(|w| w.try_into().ok())
            .ok_or(TooShort(b.len()))?;
        let trailer = (b.len() == AUTH_LEN && b[4..8] == TAG).then(|| {
            let u64_at = |at: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&b[at..at + 8]);
                u64::from_be_bytes(w)
            };
            let mut mac = [0u8; 32];
            mac.copy_from_slice(&b[SIGNED_LEN..AUTH_LEN]);
            Trailer {
                fields: Fields {
                    key_id: b[8],
                    role: b[9],
                    epoch: u64_at(12),
                    seq: u64_at(20),
                    challenge: u64_at(28),
                    echo: u64_at(36),
                },
                mac,
            }
        });
        Ok(Heartbeat {
            word: u32::from_le_bytes(word),
            trailer,
        })
    }

    pub fn magic(&self) -> Option<Magic> {
        Magic::from_word(self.word)
    }
}

/// The signed part of an authenticated heartbeat (bytes 0..44).
pub(crate) fn signed_part(magic: Magic, f: &Fields) -> [u8; SIGNED_LEN] {
    let mut b = [0u8; SIGNED_LEN];
    b[..4].copy_from_slice(&magic.bytes());
    b[4..8].copy_from_slice(&TAG);
    b[8] = f.key_id;
    b[9] = f.role;
    for (at, v) in [(12, f.epoch), (20, f.seq), (28, f.challenge), (36, f.echo)] {
        b[at..at + 8].copy_from_slice(&v.to_be_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte strings of docs/legacy.md's table, as captured from x86 legacy pulse.
    #[test]
    fn magic_words_are_the_legacy_little_endian_bytes() {
        let expected: [(Magic, [u8; 4]); 7] = [
            (Magic::LvsRunning, [0xDA, 0xDB, 0xAD, 0xBD]),
            (Magic::LvsStopped, [0xBD, 0xDA, 0xBD, 0xAD]),
            (Magic::FosRunning, [0xBE, 0xBA, 0xEF, 0xBE]),
            (Magic::FosStopped, [0xEF, 0xBE, 0xAD, 0xDE]),
            (Magic::StopMe, [0xDA, 0xDA, 0xAD, 0xDE]),
            (Magic::Hold, [0xBE, 0xBA, 0xAF, 0xDE]),
            (Magic::Held, [0xDA, 0xDA, 0xAF, 0xDE]),
        ];
        for (m, bytes) in expected {
            assert_eq!(m.bytes(), bytes, "{m:?}");
            assert_eq!(Heartbeat::decode(&bytes).unwrap().magic(), Some(m));
        }
    }

    #[test]
    fn short_datagrams_are_refused_and_long_ones_cut_to_four_bytes() {
        assert_eq!(Heartbeat::decode(&[0xDA, 0xDB, 0xAD]), Err(TooShort(3)));
        assert_eq!(Heartbeat::decode(&[]), Err(TooShort(0)));
        let long = [0xDA, 0xDB, 0xAD, 0xBD, 1, 2, 3, 4, 5];
        let hb = Heartbeat::decode(&long).unwrap();
        assert_eq!(hb.magic(), Some(Magic::LvsRunning));
        assert_eq!(hb.trailer, None);
    }

    #[test]
    fn big_endian_words_are_not_heartbeats_of_ours() {
        // A big-endian sender's "running" reads as an unknown word: incompatible.
        let hb = Heartbeat::decode(&[0xBD, 0xAD, 0xDB, 0xDA]).unwrap();
        assert_eq!(hb.magic(), None);
    }

    #[test]
    fn a_trailer_is_read_back_field_by_field() {
        let fields = Fields {
            key_id: 7,
            role: 2,
            epoch: 0x0102_0304_0506_0708,
            seq: 9,
            challenge: 0x1112_1314_1516_1718,
            echo: 0x2122_2324_2526_2728,
        };
        let mut b = signed_part(Magic::LvsStopped, &fields).to_vec();
        assert_eq!(
            &b[..12],
            &[0xBD, 0xDA, 0xBD, 0xAD, 0x50, 0x48, 0x42, 0x02, 7, 2, 0, 0]
        );
        assert_eq!(&b[12..20], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[20..28], &[0, 0, 0, 0, 0, 0, 0, 9]);
        assert_eq!(&b[28..30], &[0x11, 0x12]);
        assert_eq!(&b[36..38], &[0x21, 0x22]);
        b.extend_from_slice(&[0xAB; 32]);
        assert_eq!(b.len(), AUTH_LEN);
        let hb = Heartbeat::decode(&b).unwrap();
        assert_eq!(hb.magic(), Some(Magic::LvsStopped));
        let t = hb.trailer.unwrap();
        assert_eq!((t.fields, t.mac), (fields, [0xAB; 32]));
        // Wrong tag or wrong length: no trailer (the magic still counts, as for legacy).
        b[4] = 0;
        assert_eq!(Heartbeat::decode(&b).unwrap().trailer, None);
    }
}
