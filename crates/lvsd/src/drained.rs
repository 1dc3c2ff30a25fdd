//! The real servers the operator drained (`lvsctl drain`), remembered across lvsd
//! restarts in `/var/run/lvs.drained` (beside the pid file): one per line, the service in
//! ipvsadm's words then `-r ADDRESS:PORT`, as `-t 192.0.2.1:80 -r 10.0.0.1:80`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;

use crate::owned::{decode_line, encode_key, load_text, store_text};
use crate::reload::NannyKey;

pub fn encode(keys: &BTreeSet<NannyKey>) -> String {
    keys.iter()
        .map(|k| {
            format!(
                "{} -r {}\n",
                encode_key(&k.service),
                SocketAddr::new(k.server, k.port)
            )
        })
        .collect()
}

/// Lines that do not parse are skipped (a torn write must not stop lvsd).
pub fn decode(text: &str) -> BTreeSet<NannyKey> {
    text.lines()
        .filter_map(|line| {
            let (service, server) = line.split_once(" -r ")?;
            let server: SocketAddr = server.trim().parse().ok()?;
            Some(NannyKey {
                service: decode_line(service)?,
                server: server.ip(),
                port: server.port(),
            })
        })
        .collect()
}

/// A missing or unreadable file: nothing drained.
pub fn load(path: &Path) -> BTreeSet<NannyKey> {
    decode(&load_text(path))
}

/// Written atomically and safely; no file when nothing is drained.
pub fn store(path: &Path, keys: &BTreeSet<NannyKey>) -> std::io::Result<()> {
    store_text(path, &encode(keys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs::ServiceKey;

    #[test]
    fn round_trip_and_torn_lines_skipped() {
        let keys: BTreeSet<NannyKey> = [
            NannyKey {
                service: ServiceKey::tcp(testbed::ip("192.0.2.1"), 80),
                server: testbed::ip("10.0.0.1"),
                port: 80,
            },
            NannyKey {
                service: ServiceKey::udp(testbed::ip("2001:db8::1"), 53),
                server: testbed::ip("2001:db8:1::2"),
                port: 5353,
            },
        ]
        .into();
        let text = encode(&keys);
        assert!(text.contains("-t 192.0.2.1:80 -r 10.0.0.1:80\n"), "{text}");
        assert!(
            text.contains("-u [2001:db8::1]:53 -r [2001:db8:1::2]:5353\n"),
            "{text}"
        );
        assert_eq!(decode(&text), keys);
        assert_eq!(decode(&format!("{text}-t 192.0.2.1:80 -r\n-x\n")), keys);
    }
}
