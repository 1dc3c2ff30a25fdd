//! Backslash escapes in `send` and `expect` strings (docs/legacy.md, "nanny"): `\\`, `\r`, `\n`,
//! `\t`, `\'`, `\"`.
//!
//! Legacy nanny looped forever at start-up (100% CPU) on any other backslash sequence or
//! a trailing backslash, which ruled out most regular expressions (`\.`, `\d`). Here an
//! unknown sequence is kept literally, and reported so it can be logged.

/// The converted string and the unknown sequences that were kept as written.
pub fn convert(s: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(s.len());
    let mut unknown = Vec::new();
    let mut chars = s.chars().peekable();
    // Legacy converted only strings longer than one character.
    if s.chars().count() <= 1 {
        return (s.to_string(), unknown);
    }
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
                unknown.push(format!("\\{other}"));
            }
            None => {
                out.push('\\');
                unknown.push("\\ at the end".to_string());
                continue;
            }
        }
        chars.next();
    }
    (out, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_escapes() {
        assert_eq!(
            convert(r"GET / HTTP/1.0\r\n\r\n").0,
            "GET / HTTP/1.0\r\n\r\n"
        );
        assert_eq!(convert(r#"a\tb\\c\'d\"e"#).0, "a\tb\\c'd\"e");
        assert!(convert(r"\r\n").1.is_empty());
    }

    #[test]
    fn unknown_escapes_are_kept_and_reported() {
        // Legacy: endless loop.
        let (s, unknown) = convert(r"HTTP/1\.1 2\d\d");
        assert_eq!(s, r"HTTP/1\.1 2\d\d");
        assert_eq!(unknown, vec![r"\.", r"\d", r"\d"]);
        let (s, unknown) = convert(r"abc\");
        assert_eq!(s, r"abc\");
        assert_eq!(unknown.len(), 1);
    }

    #[test]
    fn one_character_strings_are_left_alone() {
        assert_eq!(convert(r"\").0, r"\");
        assert_eq!(convert("*").0, "*");
    }
}
