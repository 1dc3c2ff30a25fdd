//! What a probe expects back (docs/legacy.md, "nanny"), decided over everything read so far.
//!
//! Legacy made one `read()` and judged it: a plain expect string was a prefix match of
//! that one read (a short first TCP segment failed), `*` accepted even an empty answer,
//! and a regex saw only the first read. Here the probe keeps reading until the answer is
//! decided or the timeout ends, `*` needs at least one byte, and the regex (POSIX ERE,
//! with glibc's `regcomp` as legacy used) is matched against everything received.

use std::ffi::CString;

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
    /// `--regex`: a POSIX extended regular expression found anywhere in the answer.
    Regex(PosixRegex),
}

impl Expect {
    /// `regex`: interpret `text` as a POSIX ERE. Errors carry the regcomp message.
    pub fn new(text: &str, regex: bool) -> Result<Expect, String> {
        if text == "*" {
            return Ok(Expect::Any);
        }
        if regex {
            return PosixRegex::new(text).map(Expect::Regex);
        }
        Ok(Expect::Prefix(text.as_bytes().to_vec()))
    }

    /// Judges the bytes received so far; `closed` is true once no more can come.
    pub fn judge(&self, received: &[u8], closed: bool) -> Verdict {
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

/// A compiled POSIX extended regular expression (glibc `regcomp(REG_EXTENDED)`).
pub struct PosixRegex {
    re: Box<libc::regex_t>,
}

impl PosixRegex {
    pub fn new(pattern: &str) -> Result<PosixRegex, String> {
        let c =
            CString::new(pattern).map_err(|_| "the expression contains a NUL byte".to_string())?;
        // SAFETY: regex_t is plain data that regcomp initialises.
        let mut re: Box<libc::regex_t> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: valid pattern and regex_t; REG_NOSUB since only a match is needed.
        let rc =
            unsafe { libc::regcomp(&mut *re, c.as_ptr(), libc::REG_EXTENDED | libc::REG_NOSUB) };
        if rc != 0 {
            let mut buf = [0 as libc::c_char; 256];
            // SAFETY: buf is valid for its length; regerror NUL-terminates.
            unsafe { libc::regerror(rc, &*re, buf.as_mut_ptr(), buf.len()) };
            // SAFETY: regerror wrote a NUL-terminated string into buf.
            let msg = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned();
            return Err(msg);
        }
        Ok(PosixRegex { re })
    }

    /// Matches anywhere in `text`, up to its first NUL byte (as legacy's C string).
    pub fn is_match(&self, text: &[u8]) -> bool {
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        let Ok(c) = CString::new(&text[..end]) else {
            return false;
        };
        // SAFETY: compiled regex and NUL-terminated subject; no match array (REG_NOSUB).
        unsafe { libc::regexec(&*self.re, c.as_ptr(), 0, std::ptr::null_mut(), 0) == 0 }
    }
}

impl Drop for PosixRegex {
    fn drop(&mut self) {
        // SAFETY: re was initialised by a successful regcomp.
        unsafe { libc::regfree(&mut *self.re) };
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
    fn bad_regex_reports_the_regcomp_message() {
        let err = Expect::new("a(b", true).err().unwrap();
        assert!(!err.is_empty());
    }
}
