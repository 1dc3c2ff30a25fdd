//! What a probe expects back (docs/legacy.md, "nanny"), decided over everything read so far.
//!
//! Legacy made one `read()` and judged it: a plain expect string was a prefix match of
//! that one read (a short first TCP segment failed), `*` accepted even an empty answer,
//! and a regex saw only the first read. Here the probe keeps reading until the answer is
//! decided or the timeout ends, `*` needs at least one byte, and the regex is matched
//! against everything received.
//!
//! The regex is `lvscf::expect_regex::ExpectRegex` (linear time; the config check compiles
//! it the same way).

use lvscf::expect_regex::ExpectRegex;

/// The verdict on the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// Not decided yet: keep reading.
    Undecided,
}

pub enum Expect {
    /// `*`: any answer of at least one byte.
    Any,
    /// The answer starts with these bytes.
    Prefix(Vec<u8>),
    /// `--regex`: a regular expression found anywhere in the answer.
    Regex(ExpectRegex),
}

impl Expect {
    /// `regex`: interpret `text` as a regular expression.
    pub fn new(text: &str, regex: bool) -> Result<Expect, lvscf::expect_regex::RegexError> {
        if text == "*" {
            return Ok(Expect::Any);
        }
        if regex {
            return ExpectRegex::new(text).map(Expect::Regex);
        }
        Ok(Expect::Prefix(text.as_bytes().to_vec()))
    }

    /// Judges the bytes received so far; `closed` is true once no more can come.
    pub(crate) fn judge(&self, received: &[u8], closed: bool) -> Verdict {
        let undecided = if closed {
            Verdict::Fail
        } else {
            Verdict::Undecided
        };
        match self {
            Expect::Any if !received.is_empty() => Verdict::Pass,
            Expect::Any => undecided,
            Expect::Prefix(p) if received.len() >= p.len() => {
                if received.starts_with(p) {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                }
            }
            // A short answer that already differs fails at once.
            Expect::Prefix(p) if !p.starts_with(received) => Verdict::Fail,
            Expect::Prefix(_) => undecided,
            Expect::Regex(r) if r.is_match(received) => Verdict::Pass,
            Expect::Regex(_) => undecided,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_waits_for_enough_bytes() {
        let e = Expect::new("HTTP/1.1 200", false).unwrap();
        assert_eq!(
            e.judge(b"HTTP/1", false),
            Verdict::Undecided,
            "short segment: keep reading"
        );
        assert_eq!(e.judge(b"HTTP/1", true), Verdict::Fail);
        assert_eq!(e.judge(b"HTTP/1.1 200 OK\r\n", false), Verdict::Pass);
        assert_eq!(e.judge(b"HTTP/1.1 503", false), Verdict::Fail);
        assert_eq!(
            e.judge(b"SSH-2", false),
            Verdict::Fail,
            "a wrong banner fails at once"
        );
    }

    #[test]
    fn star_needs_at_least_one_byte() {
        let e = Expect::new("*", false).unwrap();
        assert_eq!(e.judge(b"", true), Verdict::Fail, "legacy accepted EOF");
        assert_eq!(e.judge(b"", false), Verdict::Undecided);
        assert_eq!(e.judge(b"x", false), Verdict::Pass);
    }

    #[test]
    fn regex_sees_everything_received() {
        let e = Expect::new(r"HTTP/1\.[01] 200", true).unwrap();
        assert_eq!(e.judge(b"HTTP/1.1 2", false), Verdict::Undecided);
        assert_eq!(e.judge(b"HTTP/1.1 200 OK", false), Verdict::Pass);
        assert_eq!(e.judge(b"HTTP/1.1 404", true), Verdict::Fail);
        let e = Expect::new("^(OK|READY)$", true).unwrap();
        assert_eq!(e.judge(b"READY", true), Verdict::Pass);
        let e = Expect::new("[[:digit:]]{3} Ready", true).unwrap();
        assert_eq!(e.judge(b"220 Ready", false), Verdict::Pass);
    }

    #[test]
    fn bad_regex_reports_why() {
        let err = Expect::new("a(b", true).err().unwrap();
        assert!(!err.0.is_empty());
    }
}
