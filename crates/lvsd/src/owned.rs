//! The services lvsd created, remembered across restarts (`/var/run/lvs.services`, beside
//! the pid file). After a crash or `kill -9`, the next lvsd still knows which entries in
//! the kernel are its own: it removes the ones lvs.cf no longer names and leaves every
//! other program's alone (legacy wiped the whole table with `ipvsadm -C` instead).
//!
//! One service per line, in ipvsadm's words: `-t 192.0.2.1:80`, `-u [2001:db8::1]:53`,
//! `--sctp-service 192.0.2.1:5000`, `-f 80`, `-f 80 -6`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;

use ipvs::{Family, Protocol, ServiceKey};

pub fn encode(keys: &BTreeSet<ServiceKey>) -> String {
    keys.iter()
        .map(|k| format!("{}\n", encode_key(k)))
        .collect()
}

/// One service in ipvsadm's words.
pub(crate) fn encode_key(k: &ServiceKey) -> String {
    match *k {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => format!(
            "{} {}",
            protocol.ipvsadm_flag(),
            SocketAddr::new(addr, port)
        ),
        ServiceKey::Fwmark { family, mark } => {
            let six = if family == Family::V6 { " -6" } else { "" };
            format!("-f {mark}{six}")
        }
    }
}

/// Parses the file's contents; lines that do not parse are skipped (the file is ours,
/// but a torn write must not stop lvsd from starting).
pub fn decode(text: &str) -> BTreeSet<ServiceKey> {
    text.lines().filter_map(decode_line).collect()
}

/// One service from ipvsadm's words.
pub(crate) fn decode_line(line: &str) -> Option<ServiceKey> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["-f", mark] | ["-f", mark, "-6"] => Some(ServiceKey::Fwmark {
            family: if words.len() == 3 {
                Family::V6
            } else {
                Family::V4
            },
            mark: mark.parse().ok()?,
        }),
        [flag, addr] => {
            let protocol = match *flag {
                "-t" => Protocol::Tcp,
                "-u" => Protocol::Udp,
                "--sctp-service" => Protocol::Sctp,
                _ => return None,
            };
            let sa: SocketAddr = addr.parse().ok()?;
            Some(ServiceKey::Addr {
                protocol,
                addr: sa.ip(),
                port: sa.port(),
            })
        }
        _ => None,
    }
}

/// Reads the file; a missing or unreadable file means "nothing owned".
pub fn load(path: &Path) -> BTreeSet<ServiceKey> {
    decode(&load_text(path))
}

/// Writes the file atomically and safely (`daemon::files::write_atomic`, mode 0644).
pub fn store(path: &Path, keys: &BTreeSet<ServiceKey>) -> std::io::Result<()> {
    store_text(path, &encode(keys))
}

/// A state file's text; a missing or unreadable file reads as empty.
pub(crate) fn load_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Writes a state file atomically and safely (mode 0644); empty text: no file.
pub(crate) fn store_text(path: &Path, text: &str) -> std::io::Result<()> {
    if text.is_empty() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    daemon::files::write_atomic(path, text.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_every_kind_of_service() {
        let keys: BTreeSet<ServiceKey> = [
            ServiceKey::tcp(testbed::ip("192.0.2.1"), 80),
            ServiceKey::udp(testbed::ip("2001:db8::1"), 53),
            ServiceKey::Addr {
                protocol: Protocol::Sctp,
                addr: testbed::ip("192.0.2.1"),
                port: 5000,
            },
            ServiceKey::Fwmark {
                family: Family::V4,
                mark: 80,
            },
            ServiceKey::Fwmark {
                family: Family::V6,
                mark: 81,
            },
        ]
        .into();
        let text = encode(&keys);
        assert!(text.contains("-u [2001:db8::1]:53\n"), "{text}");
        assert!(text.contains("-f 81 -6\n"));
        assert_eq!(decode(&text), keys);
    }

    #[test]
    fn torn_or_foreign_lines_are_skipped() {
        let keys = decode("-t 192.0.2.1:80\n-t 192.0.2\n-x 1.2.3.4:5\n-f\n\n-f 9 -6 x\n");
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn store_and_load() {
        let dir = std::env::temp_dir().join(format!("lvsd-owned-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lvs.services");
        let keys: BTreeSet<ServiceKey> = [ServiceKey::tcp(testbed::ip("192.0.2.1"), 80)].into();
        store(&path, &keys).unwrap();
        assert_eq!(load(&path), keys);
        store(&path, &BTreeSet::new()).unwrap();
        assert!(!path.exists(), "nothing owned: no file");
        assert!(load(&path).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
