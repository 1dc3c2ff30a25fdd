//! Authenticated heartbeats (extension, docs/differences.md; the scheme in docs/legacy.md,
//! "Authenticated heartbeats"): HMAC-SHA256 with a key both directors share, a key id, the
//! sender's role, and freshness that owes nothing to the clock:
//!
//! * each start of a director is an *epoch* (a random number the shell draws), and its
//!   heartbeats are numbered from 1 within it: within an epoch a number seen before is a
//!   duplicate (the other channel) or a replay;
//! * each director sends a *challenge* and echoes the partner's; a heartbeat of an epoch
//!   not yet accepted counts only when it echoes our current challenge, so a heartbeat
//!   captured before we started, or from an earlier start of the partner, is refused, and
//!   a restarted partner is accepted as soon as it has heard one heartbeat of ours;
//! * when a new partner epoch is accepted, our challenge changes (derived from the key,
//!   the epoch and a counter), so no heartbeat of an earlier partner epoch can answer it.
//!
//! Pure: the key and the epoch come in as values; no time, no randomness of its own.
//!
//! Modes (`heartbeat_auth`): `enforce` accepts only correctly signed, fresh heartbeats;
//! `permissive` (a rolling upgrade from legacy pulse) also accepts unsigned ones, but
//! never a signed one that fails the check.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use hmac::{Hmac, Mac};
use lvscf::HeartbeatAuth;
use sha2::Sha256;

use crate::wire::{self, Fields, Heartbeat, Magic, AUTH_LEN};

type HmacSha256 = Hmac<Sha256>;

/// Shortest key accepted: 128 bits.
pub(crate) const MIN_KEY_LEN: usize = 16;
/// Longest key file read.
const MAX_KEY_FILE: u64 = 4096;

/// The shared key and its id.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub id: u8,
    bytes: Vec<u8>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key {{ id: {}, {} bytes }}", self.id, self.bytes.len())
    }
}

/// Why a heartbeat key cannot be used (the file, its mode, its length), in words for the
/// terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Key {
    pub fn new(id: u8, bytes: Vec<u8>) -> Result<Key, KeyError> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(KeyError(format!(
                "the heartbeat key is {} bytes; at least {MIN_KEY_LEN} are needed \
                 (e.g. head -c 32 /dev/urandom | base64 > FILE)",
                bytes.len()
            )));
        }
        Ok(Key { id, bytes })
    }

    /// Reads a key file: a regular file, not a symlink, not readable by group or others;
    /// its contents (one trailing newline dropped) are the key.
    pub fn load(path: &Path, id: u8) -> Result<Key, KeyError> {
        let shown = path.display();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| KeyError(format!("cannot open heartbeat key {shown}: {e}")))?;
        let meta = f
            .metadata()
            .map_err(|e| KeyError(format!("{shown}: {e}")))?;
        if !meta.is_file() {
            return Err(KeyError(format!(
                "heartbeat key {shown} is not a regular file"
            )));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(KeyError(format!(
                "heartbeat key {shown} is readable by others (mode {:o}); chmod 600 it",
                meta.mode() & 0o777
            )));
        }
        let mut bytes = Vec::new();
        f.take(MAX_KEY_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| KeyError(format!("cannot read heartbeat key {shown}: {e}")))?;
        if bytes.len() as u64 > MAX_KEY_FILE {
            return Err(KeyError(format!(
                "heartbeat key {shown} is longer than {MAX_KEY_FILE} bytes"
            )));
        }
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        Key::new(id, bytes).map_err(|e| KeyError(format!("{shown}: {e}")))
    }

    /// The same key for the fleet reports (crate::fleet::report).
    pub(crate) fn signer(&self) -> crate::fleet::report::Signer {
        crate::fleet::report::Signer {
            id: self.id,
            key: self.bytes.clone(),
        }
    }

    fn mac(&self, signed: &[u8]) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(&self.bytes).expect("HMAC takes any key length");
        m.update(signed);
        m
    }
}

/// The partner epoch accepted last.
#[derive(Debug, Clone, Copy)]
struct Partner {
    epoch: u64,
    last_seq: u64,
    /// Its challenge, as its last accepted heartbeat said it.
    challenge: u64,
}

/// Our end of the authenticated exchange: signs what we send, checks what the partner
/// sends. Only with a key and `heartbeat_auth` other than `off`.
#[derive(Debug, Clone)]
pub struct Session {
    key: Key,
    mode: HeartbeatAuth,
    role: u8,
    partner_role: u8,
    epoch: u64,
    seq: u64,
    /// How many times our challenge changed, and its value now.
    round: u64,
    challenge: u64,
    partner: Option<Partner>,
    /// Before any partner epoch is accepted: the epoch and challenge of the last
    /// correctly signed heartbeat (what we echo, so that the partner accepts us).
    heard: Option<(u64, u64)>,
    /// The partner epoch whose challenge we have echoed in a heartbeat sent.
    answered: Option<u64>,
}

impl Session {
    /// `epoch`: new at every start (the shell draws it at random; not 0).
    pub fn new(key: Key, mode: HeartbeatAuth, roles: (u8, u8), epoch: u64) -> Session {
        let mut s = Session {
            key,
            mode,
            role: roles.0,
            partner_role: roles.1,
            epoch,
            seq: 0,
            round: 0,
            challenge: 0,
            partner: None,
            heard: None,
            answered: None,
        };
        s.challenge = s.next_challenge();
        s
    }

    /// The next heartbeat's bytes (the same for every channel of one round).
    pub fn sign(&mut self, magic: Magic) -> Vec<u8> {
        self.seq += 1;
        let (answered, echo) = match (self.partner, self.heard) {
            (Some(p), _) => (Some(p.epoch), p.challenge),
            (None, Some((epoch, challenge))) => (Some(epoch), challenge),
            (None, None) => (None, 0),
        };
        self.answered = answered;
        let fields = Fields {
            key_id: self.key.id,
            role: self.role,
            epoch: self.epoch,
            seq: self.seq,
            challenge: self.challenge,
            echo,
        };
        let signed = wire::signed_part(magic, &fields);
        let tag = self.key.mac(&signed).finalize().into_bytes();
        let mut out = Vec::with_capacity(AUTH_LEN);
        out.extend_from_slice(&signed);
        out.extend_from_slice(&tag);
        out
    }

    /// What to make of a heartbeat from the partner's address.
    pub fn check(&mut self, hb: &Heartbeat, raw: &[u8]) -> Verdict {
        let Some(trailer) = hb.trailer else {
            return match self.mode {
                HeartbeatAuth::Permissive => Verdict::Accept,
                _ => Verdict::Reject(Rejection::Unsigned),
            };
        };
        let t = trailer.fields;
        if t.key_id != self.key.id {
            return Verdict::Reject(Rejection::WrongKeyId(t.key_id));
        }
        if self
            .key
            .mac(&raw[..wire::SIGNED_LEN])
            .verify_slice(&trailer.mac)
            .is_err()
        {
            return Verdict::Reject(Rejection::BadSignature);
        }
        if t.role != self.partner_role {
            return Verdict::Reject(Rejection::WrongRole(t.role));
        }
        match self.partner {
            Some(p) if p.epoch == t.epoch => self.same_epoch(p, &t),
            _ => self.new_epoch(&t),
        }
    }

    /// A heartbeat of the epoch accepted last: fresh when its number is higher.
    fn same_epoch(&mut self, p: Partner, t: &Fields) -> Verdict {
        if t.seq == p.last_seq {
            return Verdict::Duplicate;
        }
        if t.seq < p.last_seq {
            return Verdict::Reject(Rejection::Replayed);
        }
        self.partner = Some(Partner {
            last_seq: t.seq,
            challenge: t.challenge,
            ..p
        });
        Verdict::Accept
    }

    /// A heartbeat of another epoch: a (re)started partner once it echoes our challenge;
    /// until then (or for ever, if it is a capture) refused.
    ///
    /// Its word counts only if we had answered that epoch's challenge before: of two
    /// directors started one after the other, the one started first confirms the other's
    /// first heartbeat but acts on its next one, while the one started second acts on the
    /// first heartbeat it can trust. So the one started second activates, as with legacy
    /// pulse (docs/legacy.md, "Authenticated heartbeats").
    fn new_epoch(&mut self, t: &Fields) -> Verdict {
        if t.echo != self.challenge {
            if self.partner.is_none() {
                self.heard = Some((t.epoch, t.challenge));
            }
            return Verdict::Reject(Rejection::Unconfirmed);
        }
        let verdict = if self.answered == Some(t.epoch) {
            Verdict::Accept
        } else {
            Verdict::Confirmed
        };
        self.partner = Some(Partner {
            epoch: t.epoch,
            last_seq: t.seq,
            challenge: t.challenge,
        });
        self.heard = None;
        // Whatever answered the old challenge (an earlier partner epoch) answers no more.
        self.challenge = self.next_challenge();
        verdict
    }

    /// A challenge never used before: HMAC(key, "challenge", epoch, round), never 0.
    fn next_challenge(&mut self) -> u64 {
        loop {
            self.round += 1;
            let mut input = b"challenge".to_vec();
            input.extend_from_slice(&self.epoch.to_be_bytes());
            input.extend_from_slice(&self.round.to_be_bytes());
            let tag = self.key.mac(&input).finalize().into_bytes();
            let mut w = [0u8; 8];
            w.copy_from_slice(&tag[..8]);
            let c = u64::from_be_bytes(w);
            if c != 0 {
                return c;
            }
        }
    }
}

/// Why a heartbeat was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// No trailer, and the mode is `enforce`.
    Unsigned,
    WrongKeyId(u8),
    /// Signed by the other role's key use: our own heartbeat sent back to us.
    WrongRole(u8),
    BadSignature,
    /// Of the accepted epoch, and not newer than the last one accepted.
    Replayed,
    /// Of an epoch not accepted, and not echoing our challenge: a partner that has not
    /// heard us yet (it just started), or a capture.
    Unconfirmed,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Unsigned => write!(f, "unauthenticated heartbeat"),
            Rejection::WrongKeyId(id) => write!(f, "heartbeat signed with key id {id}"),
            Rejection::WrongRole(r) => write!(f, "heartbeat claiming role {r} (reflected?)"),
            Rejection::BadSignature => write!(f, "heartbeat with a bad signature (forged?)"),
            Rejection::Replayed => write!(f, "replayed heartbeat"),
            Rejection::Unconfirmed => write!(
                f,
                "heartbeat that does not answer our challenge (a partner just started, or a replay)"
            ),
        }
    }
}

/// What to make of a received heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// The first heartbeat of a new partner epoch, before we answered it: the partner is
    /// alive (the dead timer restarts), its word is taken from its next heartbeat.
    Confirmed,
    /// The same signed heartbeat again (its other channel): already handled.
    Duplicate,
    Reject(Rejection),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u8) -> Key {
        Key::new(id, b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
    }

    fn check(v: &mut Session, bytes: &[u8]) -> Verdict {
        v.check(&Heartbeat::decode(bytes).unwrap(), bytes)
    }

    /// Director `role` (1 primary, 2 backup) in its start `epoch`.
    fn director(role: u8, epoch: u64) -> Session {
        Session::new(key(3), HeartbeatAuth::Enforce, (role, 3 - role), epoch)
    }

    /// One heartbeat each way, as the first keepalive of two directors does.
    fn exchange(a: &mut Session, b: &mut Session) -> (Verdict, Verdict) {
        let from_a = a.sign(Magic::LvsRunning);
        let at_b = check(b, &from_a);
        let from_b = b.sign(Magic::LvsStopped);
        (at_b, check(a, &from_b))
    }

    #[test]
    fn two_fresh_directors_accept_each_other_within_one_exchange() {
        let (mut a, mut b) = (director(1, 11), director(2, 22));
        let first = a.sign(Magic::LvsRunning);
        assert_eq!(first.len(), AUTH_LEN);
        assert_eq!(
            &first[..4],
            &Magic::LvsRunning.bytes(),
            "a legacy reader sees the magic"
        );
        // b has not been heard: a's first heartbeat cannot answer b's challenge.
        assert_eq!(
            check(&mut b, &first),
            Verdict::Reject(Rejection::Unconfirmed)
        );
        // b's answer echoes a's challenge: a knows b is alive, but b's word counts from
        // its next heartbeat; b, which has answered a, acts on a's next one at once.
        assert_eq!(
            check(&mut a, &b.sign(Magic::LvsStopped)),
            Verdict::Confirmed
        );
        let second = a.sign(Magic::LvsRunning);
        assert_eq!(check(&mut b, &second), Verdict::Accept);
        assert_eq!(
            check(&mut b, &second),
            Verdict::Duplicate,
            "its other channel"
        );
        assert_eq!(exchange(&mut a, &mut b), (Verdict::Accept, Verdict::Accept));
        assert_eq!(check(&mut b, &second), Verdict::Reject(Rejection::Replayed));
    }

    #[test]
    fn a_restarted_partner_is_accepted_whatever_it_sent_before() {
        let (mut a, mut b) = (director(1, 11), director(2, 22));
        exchange(&mut a, &mut b);
        // b ran long (numbers far ahead, as a wall-clock sequence after a clock step
        // would be), then restarts: its numbers start again from 1.
        for _ in 0..10_000 {
            exchange(&mut a, &mut b);
        }
        let old_b = b.sign(Magic::LvsStopped);
        let mut b = director(2, 23);
        let verdicts = [exchange(&mut a, &mut b), exchange(&mut a, &mut b)];
        assert_eq!(
            verdicts[1],
            (Verdict::Accept, Verdict::Accept),
            "{verdicts:?}"
        );
        // What the earlier b sent, captured, is refused from now on.
        assert_eq!(
            check(&mut a, &old_b),
            Verdict::Reject(Rejection::Unconfirmed)
        );
    }

    #[test]
    fn a_director_that_just_started_refuses_heartbeats_captured_before() {
        let (mut a, mut b) = (director(1, 11), director(2, 22));
        let mut captured = Vec::new();
        for _ in 0..3 {
            exchange(&mut a, &mut b);
            captured.push(b.sign(Magic::LvsRunning));
        }
        let mut a = director(1, 12);
        for _ in 0..2 {
            for c in &captured {
                assert_eq!(check(&mut a, c), Verdict::Reject(Rejection::Unconfirmed));
            }
            // Even once a has answered the capture's challenge (it echoes what it heard).
            a.sign(Magic::LvsStopped);
        }
        // ... while the real b, still running, is accepted at its next heartbeat.
        let (_, at_a) = exchange(&mut a, &mut b);
        assert_eq!(at_a, Verdict::Accept);
        assert_eq!(exchange(&mut a, &mut b), (Verdict::Accept, Verdict::Accept));
    }

    #[test]
    fn forged_reflected_and_foreign_key_heartbeats_are_refused() {
        let mut v = director(1, 1);
        let mut forged = Session::new(
            Key::new(3, vec![b'x'; 32]).unwrap(),
            HeartbeatAuth::Enforce,
            (2, 1),
            5,
        )
        .sign(Magic::LvsStopped);
        assert_eq!(
            check(&mut v, &forged),
            Verdict::Reject(Rejection::BadSignature)
        );
        // Flipping the magic of a good heartbeat breaks its signature.
        let mut good = director(2, 5).sign(Magic::LvsRunning);
        good[..4].copy_from_slice(&Magic::LvsStopped.bytes());
        assert_eq!(
            check(&mut v, &good),
            Verdict::Reject(Rejection::BadSignature)
        );
        // Our own heartbeat (role 1) sent back to us.
        let ours = v.sign(Magic::LvsStopped);
        assert_eq!(
            check(&mut v, &ours),
            Verdict::Reject(Rejection::WrongRole(1))
        );
        let other_id =
            Session::new(key(4), HeartbeatAuth::Enforce, (2, 1), 10).sign(Magic::LvsStopped);
        assert_eq!(
            check(&mut v, &other_id),
            Verdict::Reject(Rejection::WrongKeyId(4))
        );
        forged.truncate(4);
        assert_eq!(check(&mut v, &forged), Verdict::Reject(Rejection::Unsigned));
        // A version 1 trailer (an earlier piranha-rs) is no trailer.
        let mut v1 = good.clone();
        v1.truncate(52);
        v1[7] = 1;
        assert_eq!(check(&mut v, &v1), Verdict::Reject(Rejection::Unsigned));
    }

    #[test]
    fn permissive_mode_accepts_legacy_heartbeats_but_not_bad_signatures() {
        let mut v = Session::new(key(1), HeartbeatAuth::Permissive, (2, 1), 7);
        assert_eq!(check(&mut v, &Magic::LvsStopped.bytes()), Verdict::Accept);
        let forged = Session::new(
            Key::new(1, vec![b'y'; 16]).unwrap(),
            HeartbeatAuth::Enforce,
            (1, 2),
            1,
        )
        .sign(Magic::LvsStopped);
        assert_eq!(
            check(&mut v, &forged),
            Verdict::Reject(Rejection::BadSignature)
        );
    }

    #[test]
    fn key_files_must_be_private_regular_and_long_enough() {
        let dir = testbed::TempDir::new("key");
        let path = dir.join("hb.key");
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        let set_mode = |m| {
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(m))
                .unwrap()
        };
        set_mode(0o644);
        assert!(Key::load(&path, 1)
            .unwrap_err()
            .0
            .contains("readable by others"));
        set_mode(0o600);
        assert_eq!(
            Key::load(&path, 1).unwrap(),
            Key::new(1, b"0123456789abcdef0123".to_vec()).unwrap()
        );
        std::fs::write(&path, "short").unwrap();
        assert!(Key::load(&path, 1).unwrap_err().0.contains("at least 16"));
        let link = dir.join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(Key::load(&link, 1).unwrap_err().0.contains("cannot open"));
        assert!(Key::load(&dir.join("missing"), 1)
            .unwrap_err()
            .0
            .contains("cannot open"));
    }
}
