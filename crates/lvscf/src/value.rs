//! Legacy value types of lvs.cf (docs/legacy.md, "lvs.cf"): C `strtol` integers, booleans, ports by
//! number or service name, `inet_aton` addresses, hosts by address or name, and durations.
//!
//! These functions know nothing about keywords; they return a [`ValueError`] that the
//! parser turns into a diagnostic with the legacy text.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Why a value was rejected. Each maps to one legacy error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// Not an integer as C `strtol(s, &end, 0)` reads it (legacy "integer expected").
    NotInteger { hint: String },
    /// An integer that is not 0 or 1 (legacy "boolean expected").
    NotBoolean,
    /// A well-formed value outside what the consumer can use (legacy "invalid argument").
    Invalid { hint: String },
    /// An address or name that does not resolve (legacy "invalid host name or ip address"
    /// or "invalid argument", depending on the keyword).
    BadHost { hint: String },
    /// A netmask that `inet_aton` rejects (legacy "Bad subnet mask specified").
    BadNetmask,
}

/// An integer read the way the legacy parser reads it, plus whether its spelling is
/// surprising (a leading zero makes it octal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyInt {
    pub value: i64,
    pub octal: bool,
}

/// C `strtol(tok, &end, 0)` where the whole token must be consumed: optional sign, then
/// `0x`/`0X` hex, `0` octal, or decimal.
pub fn parse_int(tok: &str) -> Result<LegacyInt, ValueError> {
    let not_int = |hint: &str| ValueError::NotInteger {
        hint: hint.to_string(),
    };
    let (negative, digits) = match tok.as_bytes().first() {
        Some(b'-') => (true, &tok[1..]),
        Some(b'+') => (false, &tok[1..]),
        _ => (false, tok),
    };
    if digits.is_empty() {
        return Err(not_int("write a number such as 80"));
    }
    let (radix, body, octal) = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, hex, false)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..], true)
    } else {
        (10, digits, false)
    };
    if body.is_empty() {
        // "0x" alone: strtol reads the 0 and stops at x, so the token is not consumed.
        return Err(not_int("a hexadecimal number needs digits after 0x"));
    }
    if !body.chars().all(|c| c.is_digit(radix)) {
        if octal && body.chars().all(|c| c.is_ascii_digit()) {
            return Err(not_int(
                "a leading zero makes the number octal (as C strtol reads it), and 8 and 9 are \
                 not octal digits; drop the leading zero",
            ));
        }
        return Err(not_int(
            "write a number such as 80 (0x prefix for hexadecimal)",
        ));
    }
    let magnitude =
        i64::from_str_radix(body, radix).map_err(|_| not_int("the number is too large"))?;
    Ok(LegacyInt {
        value: if negative { -magnitude } else { magnitude },
        octal,
    })
}

/// An integer in `lo..=hi`; `what` names the quantity in the hint.
pub(crate) fn parse_ranged(
    tok: &str,
    lo: i64,
    hi: i64,
    what: &str,
) -> Result<LegacyInt, ValueError> {
    let n = parse_int(tok)?;
    if n.value < lo || n.value > hi {
        return Err(ValueError::Invalid {
            hint: format!("{what} must be between {lo} and {hi}, not {}", n.value),
        });
    }
    Ok(n)
}

/// Legacy boolean: an integer equal to 0 or 1.
pub(crate) fn parse_bool(tok: &str) -> Result<bool, ValueError> {
    match parse_int(tok)?.value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(ValueError::NotBoolean),
    }
}

/// A port by number, or by TCP service name (`http`) as legacy `getservbyname(.., "tcp")`.
pub(crate) fn parse_port_or_service(tok: &str) -> Result<u16, ValueError> {
    match parse_int(tok) {
        Ok(n) => port_in_range(n.value),
        Err(_) => service_port(tok).ok_or_else(|| ValueError::Invalid {
            hint: format!(
                "`{tok}` is neither a port number nor a TCP service name in /etc/services"
            ),
        }),
    }
}

pub(crate) fn port_in_range(n: i64) -> Result<u16, ValueError> {
    u16::try_from(n).map_err(|_| ValueError::Invalid {
        hint: format!("a port must be between 0 and 65535, not {n}"),
    })
}

extern "C" {
    // glibc; not bound by the libc crate. Reentrant, and it consults NSS like the legacy
    // getservbyname did.
    fn getservbyname_r(
        name: *const libc::c_char,
        proto: *const libc::c_char,
        result_buf: *mut libc::servent,
        buf: *mut libc::c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::servent,
    ) -> libc::c_int;
}

fn service_port(name: &str) -> Option<u16> {
    let cname = std::ffi::CString::new(name).ok()?;
    let proto = c"tcp";
    // SAFETY: servent is a plain C struct of pointers and integers; all-zero is a valid
    // value (null pointers), overwritten by the call below.
    let mut ent: libc::servent = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::servent = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; getservbyname_r writes only into `ent`
    // and `buf`, and `result` points to `ent` or is null.
    let rc = unsafe {
        getservbyname_r(
            cname.as_ptr(),
            proto.as_ptr(),
            &mut ent,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    Some(u16::from_be(ent.s_port as u16))
}

/// glibc `inet_aton`: one to four dot-separated parts, each decimal, octal (leading 0) or
/// hex (0x); the last part fills the remaining bytes (`10.1` is 10.0.0.1).
pub fn inet_aton(tok: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = tok.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(4);
    for part in &parts {
        if part.is_empty() {
            return None;
        }
        let (radix, body) = if let Some(h) = part.strip_prefix("0x").or(part.strip_prefix("0X")) {
            (16, h)
        } else if part.len() > 1 && part.starts_with('0') {
            (8, &part[1..])
        } else {
            (10, *part)
        };
        if body.is_empty() && radix != 16 {
            return None;
        }
        let v = if body.is_empty() {
            0 // "0x" is 0 for inet_aton
        } else {
            u32::from_str_radix(body, radix).ok()?
        };
        values.push(v);
    }
    let (last, head) = values.split_last()?;
    for v in head {
        if *v > 0xff {
            return None;
        }
    }
    let tail_bits = 8 * (4 - head.len() as u32);
    if tail_bits < 32 && *last >= (1u32 << tail_bits) {
        return None;
    }
    let mut addr: u32 = 0;
    for (i, v) in head.iter().enumerate() {
        addr |= v << (24 - 8 * i as u32);
    }
    addr |= last;
    Some(Ipv4Addr::from(addr))
}

/// An address literal: `inet_aton` syntax, or (extension) an IPv6 literal, optionally in
/// brackets.
pub fn parse_addr_literal(tok: &str) -> Option<IpAddr> {
    if let Some(v4) = inet_aton(tok) {
        return Some(IpAddr::V4(v4));
    }
    let inner = tok
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(tok);
    inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// Resolves a host name as legacy `gethostbyname` did (first address, IPv4 preferred).
pub(crate) type Resolver = fn(&str) -> Option<IpAddr>;

/// The system resolver (`getaddrinfo`), IPv4 first as `gethostbyname` returned only IPv4.
pub fn system_resolver(name: &str) -> Option<IpAddr> {
    let addrs: Vec<IpAddr> = (name, 0u16)
        .to_socket_addrs()
        .ok()?
        .map(|sa| sa.ip())
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
}

/// A resolver that knows no names, for tools that must not touch DNS.
pub fn no_resolver(_name: &str) -> Option<IpAddr> {
    None
}

/// A host: address literal, else a name resolved now (one lookup, the whole budget).
pub fn parse_host(tok: &str, resolve: Resolver) -> Result<IpAddr, ValueError> {
    Resolution::new(resolve, RESOLVE_BUDGET).host(tok)
}

/// How long all the host names of one file may take to resolve together (docs/lvs.cf.5).
pub const RESOLVE_BUDGET: Duration = Duration::from_secs(5);

/// The host names of one file, each resolved once (legacy resolved them at parse time,
/// one after another, each waiting for the resolver's own timeout). Every lookup runs on
/// a helper thread and is waited for only as long as the file's budget lasts, so a
/// resolver that never answers costs the daemon at most the budget, whatever the number
/// of names; a name that did not resolve in time says so.
pub struct Resolution {
    resolver: Resolver,
    budget: Duration,
    deadline: std::cell::Cell<Option<std::time::Instant>>,
    cache: std::cell::RefCell<std::collections::HashMap<String, Lookup>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    Found(IpAddr),
    NotFound,
    TimedOut,
}

impl Resolution {
    pub fn new(resolver: Resolver, budget: Duration) -> Resolution {
        Resolution {
            resolver,
            budget,
            deadline: std::cell::Cell::new(None),
            cache: Default::default(),
        }
    }

    /// An address literal, or the name's address.
    pub fn host(&self, tok: &str) -> Result<IpAddr, ValueError> {
        if let Some(addr) = parse_addr_literal(tok) {
            return Ok(addr);
        }
        let known = self.cache.borrow().get(tok).copied();
        let lookup = known.unwrap_or_else(|| {
            let l = self.lookup(tok);
            self.cache.borrow_mut().insert(tok.to_string(), l);
            l
        });
        match lookup {
            Lookup::Found(addr) => Ok(addr),
            Lookup::NotFound => Err(ValueError::BadHost {
                hint: format!("`{tok}` is not an IP address and does not resolve"),
            }),
            Lookup::TimedOut => Err(ValueError::BadHost {
                hint: format!(
                    "`{tok}` did not resolve in time (timed out: the names of a file get {} s in all)",
                    self.budget.as_secs_f64()
                ),
            }),
        }
    }

    fn lookup(&self, name: &str) -> Lookup {
        let now = std::time::Instant::now();
        // The budget starts with the file's first lookup.
        let deadline = self.deadline.get().unwrap_or(now + self.budget);
        self.deadline.set(Some(deadline));
        let Some(left) = deadline.checked_duration_since(now) else {
            return Lookup::TimedOut;
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let (resolver, name) = (self.resolver, name.to_string());
        // Left to finish on its own if it outlives the budget.
        let spawned = std::thread::Builder::new()
            .name("resolve".into())
            .spawn(move || {
                let _ = tx.send(resolver(&name));
            });
        if spawned.is_err() {
            return Lookup::NotFound;
        }
        match rx.recv_timeout(left) {
            Ok(Some(addr)) => Lookup::Found(addr),
            Ok(None) => Lookup::NotFound,
            Err(_) => Lookup::TimedOut,
        }
    }
}

/// A duration in seconds. Legacy took whole seconds only; fractional seconds (`0.2`) are
/// an extension, kept to millisecond precision.
pub(crate) fn parse_seconds(tok: &str) -> Result<Duration, ValueError> {
    if !tok.contains('.') {
        let n = parse_int(tok)?;
        return u64::try_from(n.value)
            .map(Duration::from_secs)
            .map_err(|_| ValueError::Invalid {
                hint: "a duration cannot be negative".into(),
            });
    }
    let valid = tok.chars().all(|c| c.is_ascii_digit() || c == '.')
        && tok.chars().filter(|&c| c == '.').count() == 1
        && tok.chars().any(|c| c.is_ascii_digit());
    if !valid {
        return Err(ValueError::NotInteger {
            hint: "write whole seconds (2) or decimal seconds (0.5)".into(),
        });
    }
    let (whole, frac) = tok.split_once('.').unwrap_or((tok, ""));
    let secs: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| ValueError::Invalid {
            hint: "the duration is too large".into(),
        })?
    };
    if frac.len() > 3 && frac[3..].chars().any(|c| c != '0') {
        return Err(ValueError::Invalid {
            hint: "durations have millisecond precision (at most 3 decimals)".into(),
        });
    }
    let millis: u32 = format!("{:0<3}", &frac[..frac.len().min(3)])
        .parse()
        .unwrap_or(0);
    Ok(Duration::from_secs(secs) + Duration::from_millis(millis.into()))
}

/// Where a listener binds: `PORT` (on loopback, 127.0.0.1), `ADDRESS:PORT` or
/// `[IPV6]:PORT`; `0` is off (`None`).
pub(crate) fn parse_listen(tok: &str) -> Result<Option<SocketAddr>, ValueError> {
    let hint = || ValueError::Invalid {
        hint: format!(
            "write a port (on loopback), ADDRESS:PORT or [IPV6]:PORT, or 0 for off, not {tok}"
        ),
    };
    if tok == "0" {
        return Ok(None);
    }
    let addr = if tok.bytes().all(|b| b.is_ascii_digit()) {
        let port = tok.parse::<u16>().map_err(|_| hint())?;
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    } else {
        tok.parse::<SocketAddr>().map_err(|_| hint())?
    };
    if addr.port() == 0 {
        return Err(hint());
    }
    Ok(Some(addr))
}

/// Formats a duration the way [`parse_seconds`] reads it: `2` or `0.25`.
pub(crate) fn format_seconds(d: Duration) -> String {
    let millis = d.subsec_millis();
    if millis == 0 {
        d.as_secs().to_string()
    } else {
        let frac = format!("{millis:03}");
        format!("{}.{}", d.as_secs(), frac.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(s: &str) -> i64 {
        parse_int(s).unwrap().value
    }

    #[test]
    fn strtol_bases() {
        assert_eq!(int("80"), 80);
        assert_eq!(int("0x10"), 16);
        assert_eq!(int("0X1f"), 31);
        assert_eq!(int("010"), 8);
        assert!(parse_int("010").unwrap().octal);
        assert!(!parse_int("10").unwrap().octal);
        assert_eq!(int("0"), 0);
        assert_eq!(int("-5"), -5);
        assert_eq!(int("+7"), 7);
    }

    #[test]
    fn strtol_rejects_what_legacy_rejects() {
        for bad in ["080", "09", "12abc", "", "-", "0x", "1.5", "ten", "0xg"] {
            assert!(
                matches!(parse_int(bad), Err(ValueError::NotInteger { .. })),
                "{bad}"
            );
        }
        match parse_int("080") {
            Err(ValueError::NotInteger { hint }) => assert!(hint.contains("octal"), "{hint}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn booleans() {
        assert!(parse_bool("1").unwrap());
        assert!(!parse_bool("0").unwrap());
        assert!(parse_bool("0x1").unwrap());
        assert_eq!(parse_bool("2"), Err(ValueError::NotBoolean));
        assert!(matches!(
            parse_bool("yes"),
            Err(ValueError::NotInteger { .. })
        ));
    }

    #[test]
    fn ports_by_number_and_service_name() {
        assert_eq!(parse_port_or_service("8080"), Ok(8080));
        assert!(parse_port_or_service("70000").is_err());
        assert!(parse_port_or_service("no-such-service-xyz").is_err());
        // /etc/services exists on Debian (netbase); skip the name check without it.
        if std::path::Path::new("/etc/services").exists() {
            assert_eq!(parse_port_or_service("http"), Ok(80));
            assert_eq!(parse_port_or_service("https"), Ok(443));
        }
    }

    #[test]
    fn inet_aton_forms() {
        assert_eq!(
            inet_aton("192.168.0.1"),
            Some(Ipv4Addr::new(192, 168, 0, 1))
        );
        assert_eq!(inet_aton("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("127.1.2"), Some(Ipv4Addr::new(127, 1, 0, 2)));
        assert_eq!(inet_aton("0x7f.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(inet_aton("010.0.0.1"), Some(Ipv4Addr::new(8, 0, 0, 1)));
        assert_eq!(inet_aton("167772161"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("255.255.255.255"), Some(Ipv4Addr::BROADCAST));
        for bad in [
            "256.1.1.1",
            "1.2.3.4.5",
            "1..2",
            "a.b.c.d",
            "",
            "1.2.3.256",
            "09.1.1.1",
        ] {
            assert_eq!(inet_aton(bad), None, "{bad}");
        }
    }

    #[test]
    fn ipv6_literals_are_an_extension() {
        assert_eq!(
            parse_addr_literal("2001:db8::1"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            parse_addr_literal("[2001:db8::1]"),
            Some("2001:db8::1".parse().unwrap())
        );
    }

    #[test]
    fn a_resolver_that_never_answers_costs_the_budget_once_per_file() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        fn stuck(_: &str) -> Option<IpAddr> {
            CALLS.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(30));
            None
        }
        let r = Resolution::new(stuck, Duration::from_millis(300));
        let start = std::time::Instant::now();
        for name in ["web1", "web2", "web1", "web3", "web2"] {
            let Err(ValueError::BadHost { hint }) = r.host(name) else {
                panic!("{name} resolved");
            };
            assert!(hint.contains("timed out"), "{hint}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        // web1 asked once; web3 never: the budget was spent.
        assert!(
            CALLS.load(Ordering::SeqCst) <= 2,
            "{}",
            CALLS.load(Ordering::SeqCst)
        );
        assert_eq!(
            r.host("10.0.0.1"),
            Ok("10.0.0.1".parse().unwrap()),
            "literals need no lookup"
        );
    }

    #[test]
    fn hosts_use_the_resolver_only_for_names() {
        fn fake(name: &str) -> Option<IpAddr> {
            (name == "web1").then(|| IpAddr::V4(Ipv4Addr::new(10, 0, 0, 21)))
        }
        assert_eq!(parse_host("web1", fake), Ok("10.0.0.21".parse().unwrap()));
        assert_eq!(
            parse_host("10.0.0.5", no_resolver),
            Ok("10.0.0.5".parse().unwrap())
        );
        assert!(matches!(
            parse_host("nope", fake),
            Err(ValueError::BadHost { .. })
        ));
    }

    #[test]
    fn seconds_whole_and_fractional() {
        assert_eq!(parse_seconds("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_seconds("0.2"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_seconds(".5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("1.250"), Ok(Duration::from_millis(1250)));
        assert_eq!(parse_seconds("0x2"), Ok(Duration::from_secs(2)));
        assert!(parse_seconds("0.0001").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("1.2.3").is_err());
        assert!(parse_seconds(".").is_err());
        assert!(parse_seconds("abc").is_err());
    }

    #[test]
    fn seconds_format_round_trips() {
        for ms in [0u64, 1, 10, 200, 1000, 1250, 2000, 123_456] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_seconds(&format_seconds(d)), Ok(d), "{ms}");
        }
        assert_eq!(format_seconds(Duration::from_millis(200)), "0.2");
        assert_eq!(format_seconds(Duration::from_secs(5)), "5");
    }
}
