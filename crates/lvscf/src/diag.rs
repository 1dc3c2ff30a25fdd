//! Diagnostics: every rejection names file, line and column, carries the legacy error text
//! (docs/legacy.md, "lvs.cf") and a plain-language hint.

use std::fmt;

use serde::Serialize;

/// The legacy error codes of `lvsconfig.c`, plus the semantic checks this project adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    BadQuoting,
    ExtraArgs,
    EqualExpected,
    MissingArgs,
    BadHostname,
    BadArgument,
    IntExpected,
    BoolExpected,
    BadCommand,
    ListExpected,
    BadNetmask,
    Empty,
    Read,
    /// An unterminated block at end of file (legacy silently accepted it).
    UnterminatedBlock,
    /// How the file is encoded: CRLF line ends, bytes that are not UTF-8 (warnings).
    Encoding,
    /// A semantic check of [`crate::validate`].
    Semantic,
}

impl Code {
    /// The legacy text (`lvsStrerror`), or ours for checks legacy did not have.
    pub fn legacy_text(self) -> &'static str {
        match self {
            Code::BadQuoting => "quotation mismatch",
            Code::ExtraArgs => "unexpected arguments",
            Code::EqualExpected => "equal (=) expected after command",
            Code::MissingArgs => "missing arguments",
            Code::BadHostname => "invalid host name or ip address",
            Code::BadArgument => "invalid argument",
            Code::IntExpected => "integer expected",
            Code::BoolExpected => "boolean expected",
            Code::BadCommand => "unknown command",
            Code::ListExpected => "list expected",
            Code::BadNetmask => "Bad subnet mask specified",
            Code::Empty => "Empty configuration",
            Code::Read => "I/O error while reading configuration",
            Code::UnterminatedBlock => "unexpected end of file",
            Code::Encoding => "file encoding",
            Code::Semantic => "invalid configuration",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub file: String,
    /// 1-based physical line; 0 when the finding concerns the whole file.
    pub line: u32,
    /// 1-based column; 0 when not tied to a token.
    pub column: u32,
    /// The legacy text for errors legacy also rejected; otherwise a short statement.
    pub message: String,
    /// What to do about it, in plain language.
    pub hint: String,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The line legacy pulse printed: `pulse: error parsing <f> at line <n>: <err>`.
    pub fn legacy_pulse_line(&self) -> String {
        format!(
            "pulse: error parsing {} at line {}: {}",
            self.file, self.line, self.message
        )
    }

    /// The line legacy lvsd printed: `lvs: error parsing <f> on line <n>.`
    pub fn legacy_lvsd_line(&self) -> String {
        format!("lvs: error parsing {} on line {}.", self.file, self.line)
    }
}

/// Text from a file or a remote server made safe to show: a NUL byte is named (`<NUL>`),
/// other control characters are written as `\xNN`, so a terminal or a log shows what is
/// there instead of acting on it.
pub fn escape_control(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\0' => out.push_str("<NUL>"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The longest message or hint printed whole (a token quoted from a file can be long).
const MAX_SHOWN_CHARS: usize = 300;

/// A message as printed: control characters escaped, cut at [`MAX_SHOWN_CHARS`].
fn shown(s: &str) -> String {
    let escaped = escape_control(s);
    match escaped.char_indices().nth(MAX_SHOWN_CHARS) {
        None => escaped.into_owned(),
        Some((cut, _)) => format!(
            "{}... ({} more bytes)",
            &escaped[..cut],
            escaped.len() - cut
        ),
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: error: message (hint)`, the form compilers use, so editors can
    /// jump to it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        write!(f, ": {sev}: {}", shown(&self.message))?;
        if !self.hint.is_empty() {
            write!(f, " ({})", shown(&self.hint))?;
        }
        Ok(())
    }
}
