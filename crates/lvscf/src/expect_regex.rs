//! How an `expect` value with `use_regex = 1` is matched, shared by nanny (which matches
//! the answers) and the config check (which refuses an expression nanny could not use).
//!
//! The regex runs on the `regex` crate, in time linear in the answer: the answer comes
//! from the real server, and glibc's POSIX matcher (legacy's) spent seconds of CPU on a
//! back-reference or a nested repetition over a long answer. The syntax is POSIX ERE's
//! (bracket classes such as `[[:digit:]]` included) except back-references, which are
//! refused when the expression is compiled (docs/differences.md).

/// Compiled-program size limits: an expression from lvs.cf cannot make nanny use more.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Why an `expect` expression cannot be compiled: one line (e.g. `backreferences are not
/// supported`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError(pub String);

impl std::fmt::Display for RegexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A compiled `expect` regular expression, matched in linear time.
pub struct ExpectRegex {
    re: regex::bytes::Regex,
}

impl ExpectRegex {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Result<ExpectRegex, RegexError> {
        if pattern.contains('\0') {
            return Err(RegexError("the expression contains a NUL byte".into()));
        }
        regex::bytes::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(|re| ExpectRegex { re })
            .map_err(|e| RegexError(one_line(&e.to_string())))
    }

    /// Matches anywhere in `text`, up to its first NUL byte (as legacy's C string).
    pub fn is_match(&self, text: &[u8]) -> bool {
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        self.re.is_match(&text[..end])
    }
}

/// The regex crate's multi-line error, as its last line (`error: ...`) without the prefix.
fn one_line(message: &str) -> String {
    let last = message
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(message);
    last.trim().trim_start_matches("error: ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_classes_and_anchors_work() {
        let r = ExpectRegex::new("^HTTP/1\\.[01] [[:digit:]]{3}").unwrap();
        assert!(r.is_match(b"HTTP/1.0 200 OK"));
        assert!(!r.is_match(b"xHTTP/1.0 200"));
        assert!(
            !r.is_match(b"HTTP/1.0 \x00200"),
            "stops at a NUL, as legacy's C string"
        );
    }

    #[test]
    fn back_references_are_refused_with_a_one_line_reason() {
        let e = ExpectRegex::new("(a)\\1").err().unwrap();
        assert_eq!(e.0, "backreferences are not supported");
    }

    #[test]
    fn a_hostile_answer_cannot_make_matching_slow() {
        // Nested repetition over the whole 64 KiB window: glibc took seconds.
        let r = ExpectRegex::new("(x+x+)+y").unwrap();
        let answer = vec![b'x'; 64 * 1024];
        let start = std::time::Instant::now();
        for _ in 0..16 {
            assert!(!r.is_match(&answer));
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
