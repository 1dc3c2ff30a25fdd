//! Authenticated heartbeats (extension, docs/differences.md): HMAC-SHA256 with a key both
//! directors share, a key id, the sender's role, and a sequence number that only grows.
//! Pure: the key comes in as bytes, the first sequence number from the caller.
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

use crate::wire::{self, Heartbeat, Magic, AUTH_LEN};

type HmacSha256 = Hmac<Sha256>;

/// Shortest key accepted: 128 bits.
pub const MIN_KEY_LEN: usize = 16;
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

impl Key {
    pub fn new(id: u8, bytes: Vec<u8>) -> Result<Key, String> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(format!(
                "the heartbeat key is {} bytes; at least {MIN_KEY_LEN} are needed \
                 (e.g. head -c 32 /dev/urandom | base64 > FILE)",
                bytes.len()
            ));
        }
        Ok(Key { id, bytes })
    }

    /// Reads a key file: a regular file, not a symlink, not readable by group or others;
    /// its contents (one trailing newline dropped) are the key.
    pub fn load(path: &Path, id: u8) -> Result<Key, String> {
        let shown = path.display();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| format!("cannot open heartbeat key {shown}: {e}"))?;
        let meta = f.metadata().map_err(|e| format!("{shown}: {e}"))?;
        if !meta.is_file() {
            return Err(format!("heartbeat key {shown} is not a regular file"));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(format!(
                "heartbeat key {shown} is readable by others (mode {:o}); chmod 600 it",
                meta.mode() & 0o777
            ));
        }
        let mut bytes = Vec::new();
        f.take(MAX_KEY_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read heartbeat key {shown}: {e}"))?;
        if bytes.len() as u64 > MAX_KEY_FILE {
            return Err(format!(
                "heartbeat key {shown} is longer than {MAX_KEY_FILE} bytes"
            ));
        }
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        Key::new(id, bytes).map_err(|e| format!("{shown}: {e}"))
    }

    fn mac(&self, signed: &[u8]) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(&self.bytes).expect("HMAC takes any key length");
        m.update(signed);
        m
    }
}

/// Signs outgoing heartbeats.
#[derive(Debug, Clone)]
pub struct Signer {
    key: Key,
    role: u8,
    seq: u64,
}

impl Signer {
    /// `first_seq` must exceed anything sent before, across restarts: the caller passes
    /// the wall clock in nanoseconds.
    pub fn new(key: Key, role: u8, first_seq: u64) -> Signer {
        Signer {
            key,
            role,
            seq: first_seq,
        }
    }

    /// The next heartbeat's bytes (the same for every channel of one round).
    pub fn sign(&mut self, magic: Magic) -> Vec<u8> {
        self.seq += 1;
        let signed = wire::signed_part(magic, self.key.id, self.role, self.seq);
        let tag = self.key.mac(&signed).finalize().into_bytes();
        let mut out = Vec::with_capacity(AUTH_LEN);
        out.extend_from_slice(&signed);
        out.extend_from_slice(&tag);
        out
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
    /// Older than the last one accepted.
    Replayed,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Unsigned => write!(f, "unauthenticated heartbeat"),
            Rejection::WrongKeyId(id) => write!(f, "heartbeat signed with key id {id}"),
            Rejection::WrongRole(r) => write!(f, "heartbeat claiming role {r} (reflected?)"),
            Rejection::BadSignature => write!(f, "heartbeat with a bad signature (forged?)"),
            Rejection::Replayed => write!(f, "replayed heartbeat"),
        }
    }
}

/// What to make of a received heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// The same signed heartbeat again (its other channel): already handled.
    Duplicate,
    Reject(Rejection),
}

/// Checks incoming heartbeats from the partner.
#[derive(Debug, Clone)]
pub struct Verifier {
    mode: HeartbeatAuth,
    key: Option<Key>,
    partner_role: u8,
    last_seq: Option<u64>,
}

impl Verifier {
    pub fn new(mode: HeartbeatAuth, key: Option<Key>, partner_role: u8) -> Verifier {
        Verifier {
            mode,
            key,
            partner_role,
            last_seq: None,
        }
    }

    pub fn check(&mut self, hb: &Heartbeat, raw: &[u8]) -> Verdict {
        let (Some(key), HeartbeatAuth::Permissive | HeartbeatAuth::Enforce) =
            (&self.key, self.mode)
        else {
            return Verdict::Accept;
        };
        let Some(t) = hb.trailer else {
            return match self.mode {
                HeartbeatAuth::Enforce => Verdict::Reject(Rejection::Unsigned),
                _ => Verdict::Accept,
            };
        };
        if t.key_id != key.id {
            return Verdict::Reject(Rejection::WrongKeyId(t.key_id));
        }
        if key
            .mac(&raw[..wire::SIGNED_LEN])
            .verify_slice(&t.mac)
            .is_err()
        {
            return Verdict::Reject(Rejection::BadSignature);
        }
        if t.role != self.partner_role {
            return Verdict::Reject(Rejection::WrongRole(t.role));
        }
        match self.last_seq {
            Some(last) if t.seq == last => Verdict::Duplicate,
            Some(last) if t.seq < last => Verdict::Reject(Rejection::Replayed),
            _ => {
                self.last_seq = Some(t.seq);
                Verdict::Accept
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u8) -> Key {
        Key::new(id, b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
    }

    fn check(v: &mut Verifier, bytes: &[u8]) -> Verdict {
        v.check(&Heartbeat::decode(bytes).unwrap(), bytes)
    }

    #[test]
    fn signed_heartbeats_pass_once_and_legacy_pulse_reads_their_magic() {
        let mut s = Signer::new(key(3), 1, 1000);
        let mut v = Verifier::new(HeartbeatAuth::Enforce, Some(key(3)), 1);
        let a = s.sign(Magic::LvsRunning);
        assert_eq!(a.len(), AUTH_LEN);
        assert_eq!(
            &a[..4],
            &Magic::LvsRunning.bytes(),
            "a legacy reader sees the magic"
        );
        assert_eq!(check(&mut v, &a), Verdict::Accept);
        assert_eq!(check(&mut v, &a), Verdict::Duplicate, "its other channel");
        let b = s.sign(Magic::LvsRunning);
        assert_eq!(check(&mut v, &b), Verdict::Accept);
        assert_eq!(check(&mut v, &a), Verdict::Reject(Rejection::Replayed));
    }

    #[test]
    fn forged_reflected_and_foreign_key_heartbeats_are_refused() {
        let mut v = Verifier::new(HeartbeatAuth::Enforce, Some(key(3)), 1);
        let mut forged =
            Signer::new(Key::new(3, vec![b'x'; 32]).unwrap(), 1, 5).sign(Magic::LvsStopped);
        assert_eq!(
            check(&mut v, &forged),
            Verdict::Reject(Rejection::BadSignature)
        );
        // Flipping the magic of a good heartbeat breaks its signature.
        let mut good = Signer::new(key(3), 1, 5).sign(Magic::LvsRunning);
        good[..4].copy_from_slice(&Magic::LvsStopped.bytes());
        assert_eq!(
            check(&mut v, &good),
            Verdict::Reject(Rejection::BadSignature)
        );
        // Our own heartbeat (role 2) sent back to us.
        let ours = Signer::new(key(3), 2, 10).sign(Magic::LvsStopped);
        assert_eq!(
            check(&mut v, &ours),
            Verdict::Reject(Rejection::WrongRole(2))
        );
        let other_id = Signer::new(key(4), 1, 10).sign(Magic::LvsStopped);
        assert_eq!(
            check(&mut v, &other_id),
            Verdict::Reject(Rejection::WrongKeyId(4))
        );
        forged.truncate(4);
        assert_eq!(check(&mut v, &forged), Verdict::Reject(Rejection::Unsigned));
    }

    #[test]
    fn permissive_mode_accepts_legacy_heartbeats_but_not_bad_signatures() {
        let mut v = Verifier::new(HeartbeatAuth::Permissive, Some(key(1)), 2);
        assert_eq!(check(&mut v, &Magic::LvsStopped.bytes()), Verdict::Accept);
        let forged =
            Signer::new(Key::new(1, vec![b'y'; 16]).unwrap(), 2, 1).sign(Magic::LvsStopped);
        assert_eq!(
            check(&mut v, &forged),
            Verdict::Reject(Rejection::BadSignature)
        );
        let mut off = Verifier::new(HeartbeatAuth::Off, None, 2);
        assert_eq!(
            check(&mut off, &forged),
            Verdict::Accept,
            "legacy: nothing checked"
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
            .contains("readable by others"));
        set_mode(0o600);
        assert_eq!(
            Key::load(&path, 1).unwrap(),
            Key::new(1, b"0123456789abcdef0123".to_vec()).unwrap()
        );
        std::fs::write(&path, "short").unwrap();
        assert!(Key::load(&path, 1).unwrap_err().contains("at least 16"));
        let link = dir.join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(Key::load(&link, 1).unwrap_err().contains("cannot open"));
        assert!(Key::load(&dir.join("missing"), 1)
            .unwrap_err()
            .contains("cannot open"));
    }
}
