//! The addresses pulse added, remembered across restarts (`pulse.addresses` beside the
//! pid file). A pulse killed with `kill -9` leaves its VIPs up; the next pulse removes
//! exactly those, and never an address somebody else configured (one pulse found
//! already present is not recorded, so it is never removed).
//!
//! One address per line: `ADDR/PREFIX DEVICE [LABEL]`, e.g. `10.0.0.254/24 eth1 eth1:1`.
//! Devices are kept by name: interface indexes are not stable across reboots (the file
//! lives under /var/run, which a reboot empties anyway).

use std::io::Read;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The longest ledger read; a real one is a line per VIP.
const MAX_LEDGER: u64 = 256 * 1024;

/// One address as recorded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub addr: IpAddr,
    pub prefix: u8,
    pub device: String,
    pub label: Option<String>,
}

impl Entry {
    fn encode(&self) -> String {
        match &self.label {
            Some(l) => format!("{}/{} {} {l}\n", self.addr, self.prefix, self.device),
            None => format!("{}/{} {}\n", self.addr, self.prefix, self.device),
        }
    }

    fn decode(line: &str) -> Option<Entry> {
        let mut words = line.split_whitespace();
        let (addr, prefix) = words.next()?.split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > if addr.is_ipv4() { 32 } else { 128 } {
            return None;
        }
        let device = words.next()?.to_string();
        let label = words.next().map(str::to_string);
        Some(Entry {
            addr,
            prefix,
            device,
            label,
        })
    }
}

/// The ledger file and its entries.
pub struct Ledger {
    path: PathBuf,
    entries: Vec<Entry>,
}

impl Ledger {
    /// Reads the ledger; missing, unreadable, not a regular file or not ours to read
    /// means empty (lines that do not parse are skipped: a torn write must not stop pulse).
    pub fn load(path: &Path) -> Ledger {
        Ledger {
            path: path.to_path_buf(),
            entries: read_bounded(path)
                .map(|t| t.lines().filter_map(Entry::decode).collect())
                .unwrap_or_default(),
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Records addresses before they are added (so a crash right after adding still
    /// finds them); one write for them all.
    pub fn record(&mut self, entries: impl IntoIterator<Item = Entry>) -> std::io::Result<()> {
        let before = self.entries.len();
        for e in entries {
            if !self.entries.contains(&e) {
                self.entries.push(e);
            }
        }
        if self.entries.len() == before {
            return Ok(());
        }
        self.store()
    }

    /// Forgets addresses (removed, or never added); one write for them all. An entry is
    /// matched by address and device.
    pub fn forget(&mut self, gone: &[Entry]) -> std::io::Result<()> {
        let before = self.entries.len();
        self.entries.retain(|e| {
            !gone
                .iter()
                .any(|g| g.addr == e.addr && g.device == e.device)
        });
        if self.entries.len() == before {
            return Ok(());
        }
        self.store()
    }

    fn store(&self) -> std::io::Result<()> {
        if self.entries.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let text: String = self.entries.iter().map(Entry::encode).collect();
        daemon::files::write_atomic(&self.path, text.as_bytes(), 0o600)
    }
}

/// The file's text if it is a regular file (opened without following a symlink), cut
/// at [`MAX_LEDGER`].
fn read_bounded(path: &Path) -> Option<String> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    f.take(MAX_LEDGER).read_to_string(&mut text).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(addr: &str, label: Option<&str>) -> Entry {
        Entry {
            addr: addr.parse().unwrap(),
            prefix: 24,
            device: "eth0".into(),
            label: label.map(str::to_string),
        }
    }

    #[test]
    fn entries_survive_a_restart_and_forgetting_the_last_removes_the_file() {
        let dir = testbed::TempDir::new("ledger");
        let path = dir.join("pulse.addresses");
        let mut l = Ledger::load(&path);
        assert!(l.entries().is_empty());
        l.record([entry("192.168.0.100", Some("eth0:1"))]).unwrap();
        l.record([
            entry("2001:db8::1", None),
            entry("192.168.0.100", Some("eth0:1")),
        ])
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "192.168.0.100/24 eth0 eth0:1\n2001:db8::1/24 eth0\n"
        );
        let mut again = Ledger::load(&path);
        assert_eq!(again.entries(), l.entries());
        // Matched by address and device: the label does not matter.
        again.forget(&[entry("192.168.0.100", None)]).unwrap();
        assert_eq!(again.entries().len(), 1);
        again.forget(&[entry("2001:db8::1", None)]).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn a_torn_or_hostile_ledger_yields_only_its_good_lines() {
        let dir = testbed::TempDir::new("ledger-bad");
        let path = dir.join("pulse.addresses");
        std::fs::write(
            &path,
            "garbage\n10.0.0.1/99 eth0\n10.0.0.2/24 eth1 eth1:2\n10.0.0.3/2",
        )
        .unwrap();
        let l = Ledger::load(&path);
        assert_eq!(l.entries().len(), 1);
        assert_eq!(l.entries()[0].label.as_deref(), Some("eth1:2"));
        // A symlink is not followed; a FIFO is not read (no hang).
        let link = dir.join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(Ledger::load(&link).entries().is_empty());
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(Ledger::load(&fifo).entries().is_empty());
    }
}
