//! Statement structure of lvs.cf: globals, `virtual`/`failover` blocks, `server` blocks.
//!
//! The parser follows the legacy `lvsconfig.c` check order (`=`, then missing, then extra
//! arguments, then the value) so that every file legacy rejected is rejected with the same
//! text. It goes on after a bad value to report every bad line at once, but stops at a
//! bad block header, where guessing the structure would only produce noise.

use std::net::Ipv4Addr;

use crate::diag::{Code, Diagnostic, Severity};
use crate::lexer::{self, Token};
use crate::model::*;
use crate::value::{self, Resolver, ValueError};

/// How to parse. The resolver turns host names into addresses (legacy resolved them once
/// at parse time with `gethostbyname`).
#[derive(Clone, Copy)]
pub struct ParseOptions {
    pub resolver: Resolver,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            resolver: value::system_resolver,
        }
    }
}

/// A successfully parsed file and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// A file that failed to parse: at least one error, plus any warnings.
#[derive(Debug, Clone)]
pub struct ParseFailure {
    pub diagnostics: Vec<Diagnostic>,
}

impl ParseFailure {
    /// The first error, the one legacy would have reported.
    pub fn first_error(&self) -> &Diagnostic {
        self.diagnostics
            .iter()
            .find(|d| d.is_error())
            .expect("a ParseFailure holds at least one error")
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

impl std::fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, d) in self.errors().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseFailure {}

/// The longest physical line parsed (documented in lvs.cf.5): a longer one is an error
/// of its own and is not tokenized, so memory stays proportional to the file.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// At most this many errors, and as many warnings, are kept; the rest are counted.
const MAX_SHOWN: usize = 50;

/// The largest lvs.cf read (documented in lvs.cf.5): a configuration of thousands of real
/// servers is far below it; `/dev/zero` or a runaway generator is refused, not read.
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// Reads and parses a file. Only a regular file is read (a FIFO, a device or a
/// directory is refused without blocking), and at most [`MAX_FILE_SIZE`] bytes.
pub fn parse_file(path: &std::path::Path, opts: &ParseOptions) -> Result<Parsed, ParseFailure> {
    let file = path.display().to_string();
    match read_file(path) {
        Ok(bytes) => parse_bytes(&bytes, &file, opts),
        Err(why) => Err(ParseFailure {
            diagnostics: vec![read_failure(&file, why)],
        }),
    }
}

/// A file that could not be read (or is too large), as a diagnostic: the legacy text,
/// and why.
pub(crate) fn read_failure(file: &str, why: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        code: Code::Read,
        file: file.to_string(),
        line: 0,
        column: 0,
        message: Code::Read.legacy_text().to_string(),
        hint: why,
    }
}

/// Why a file is not read when it is larger than [`MAX_FILE_SIZE`].
pub(crate) fn too_big() -> String {
    format!("larger than the {} MiB limit", MAX_FILE_SIZE >> 20)
}

/// A configuration file's bytes, or why it is not read: only a regular file (a FIFO, a
/// device or a directory is refused without blocking), at most [`MAX_FILE_SIZE`] bytes.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    // O_NONBLOCK: opening a FIFO with no writer would otherwise wait for ever.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "not a regular file"
        };
        return Err(format!("{what}: lvs.cf must be a regular file"));
    }
    if meta.len() > MAX_FILE_SIZE {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(too_big()); // it grew while being read
    }
    Ok(bytes)
}

/// Parses raw file contents. Bytes that are not UTF-8 are an error on each line that
/// has them (legacy kept them as bytes; nothing is replaced silently), except in
/// comments, which no daemon reads.
pub fn parse_bytes(bytes: &[u8], file: &str, opts: &ParseOptions) -> Result<Parsed, ParseFailure> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return parse_str(text, file, opts);
    }
    let bad = non_utf8_lines(bytes, file);
    let text = String::from_utf8_lossy(bytes);
    let result = parse_str(&text, file, opts);
    if bad.is_empty() {
        return result;
    }
    let mut diagnostics = bad;
    diagnostics.extend(match result {
        Ok(p) => p.warnings,
        Err(f) => f.diagnostics,
    });
    Err(ParseFailure { diagnostics })
}

/// An error for each line (not a comment) with bytes that are not UTF-8, at the first
/// such byte (capped like every list).
fn non_utf8_lines(bytes: &[u8], file: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut count = 0;
    for (number, range, _) in lexer::physical_lines(bytes) {
        let line = &bytes[range];
        let Err(e) = std::str::from_utf8(line) else {
            continue;
        };
        let first = line.iter().position(|b| !matches!(b, b' ' | b'\t'));
        if first.map_or(true, |f| line[f] == b'#') {
            continue;
        }
        count += 1;
        if out.len() < MAX_SHOWN {
            out.push(Diagnostic {
                severity: Severity::Error,
                code: Code::Encoding,
                file: file.to_string(),
                line: number,
                column: e.valid_up_to() as u32 + 1,
                message: "bytes that are not UTF-8".into(),
                hint: "save the file as UTF-8 or ASCII; legacy piranha took such bytes as they \
                       were, piranha-rs does not guess what they meant"
                    .into(),
            });
        }
    }
    if count > out.len() {
        out.push(more(file, Severity::Error, count - out.len()));
    }
    out
}

/// The diagnostic that stands for those left out of a capped list.
fn more(file: &str, severity: Severity, n: usize) -> Diagnostic {
    let what = match severity {
        Severity::Error => "errors",
        Severity::Warning => "warnings",
    };
    Diagnostic {
        severity,
        code: Code::Semantic,
        file: file.to_string(),
        line: 0,
        column: 0,
        message: format!("{n} more {what} not shown"),
        hint: format!("only the first {MAX_SHOWN} are listed"),
    }
}

/// Parses file contents; `file` names the source in diagnostics.
pub fn parse_str(text: &str, file: &str, opts: &ParseOptions) -> Result<Parsed, ParseFailure> {
    let long = overlong_lines(text);
    if long.is_empty() {
        return parse_text(text, file, opts);
    }
    // Parse the rest with those lines blanked (line numbers kept), then report them.
    let blanked = blank_lines(text, &long);
    let mut diagnostics: Vec<Diagnostic> = long
        .iter()
        .take(MAX_SHOWN)
        .map(|&(line, len)| Diagnostic {
            severity: Severity::Error,
            code: Code::ExtraArgs,
            file: file.to_string(),
            line,
            column: 0,
            message: format!("line of {len} bytes, longer than {MAX_LINE_BYTES}"),
            hint: "an lvs.cf line is a keyword and its value; this one was not read".into(),
        })
        .collect();
    if long.len() > MAX_SHOWN {
        diagnostics.push(more(file, Severity::Error, long.len() - MAX_SHOWN));
    }
    diagnostics.extend(match parse_text(&blanked, file, opts) {
        Ok(p) => p.warnings,
        Err(f) => f.diagnostics,
    });
    Err(ParseFailure { diagnostics })
}

/// The physical lines longer than [`MAX_LINE_BYTES`]: their numbers and lengths.
fn overlong_lines(text: &str) -> Vec<(u32, usize)> {
    lexer::physical_lines(text.as_bytes())
        .filter(|(_, range, _)| range.len() > MAX_LINE_BYTES)
        .map(|(number, range, _)| (number, range.len()))
        .collect()
}

/// `text` with the given lines emptied (their line ends kept, so numbers stay).
fn blank_lines(text: &str, lines: &[(u32, usize)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut long = lines.iter().map(|(n, _)| *n).peekable();
    for (number, range, eol) in lexer::physical_lines(text.as_bytes()) {
        if long.peek() == Some(&number) {
            long.next();
        } else {
            out.push_str(&text[range.clone()]);
        }
        out.push_str(&text[range.end..range.end + eol]);
    }
    out
}

fn parse_text(text: &str, file: &str, opts: &ParseOptions) -> Result<Parsed, ParseFailure> {
    let mut p = Parser {
        file,
        config: Config::default(),
        diags: Vec::new(),
        errors: 0,
        warnings: 0,
        names: value::Resolution::new(opts.resolver, value::RESOLVE_BUDGET),
        block: None,
        saw_primary: false,
        saw_primary_private: false,
        saw_backup_private_line: 0,
        default_schedulers: Vec::new(),
    };
    if text.is_empty() {
        p.push(
            Severity::Error,
            Code::Empty,
            0,
            0,
            "the file is empty".into(),
        );
        return Err(ParseFailure {
            diagnostics: p.diags,
        });
    }
    lexer::for_each_line(text, |line| p.line(line));
    if p.errors == 0 {
        p.finish_eof();
    }
    if lexer::has_crlf(text) {
        p.diags.insert(
            0,
            Diagnostic {
                severity: Severity::Warning,
                code: Code::Encoding,
                file: file.to_string(),
                line: 0,
                column: 0,
                message: "the file has CRLF (DOS) line endings".into(),
                hint: "parsed correctly here, but legacy piranha would read only its first line; \
                       convert with dos2unix before going back to legacy daemons"
                    .into(),
            },
        );
    }
    p.summarise_left_out();
    if p.errors > 0 {
        return Err(ParseFailure {
            diagnostics: p.diags,
        });
    }
    p.apply_private_address_rule();
    p.apply_fleet_scheduler_rule();
    let Parser { config, diags, .. } = p;
    Ok(Parsed {
        config,
        warnings: diags,
    })
}

/// The open block, if any.
struct OpenBlock {
    vs: VirtualServer,
    failover: bool,
    /// Servers whose port defaulted to the virtual's port at the time (legacy quirk).
    defaulted_ports: Vec<usize>,
    seen: Vec<&'static str>,
    server: Option<OpenServer>,
}

struct OpenServer {
    rs: RealServer,
    port_explicit: bool,
    seen: Vec<&'static str>,
}

struct Parser<'a> {
    file: &'a str,
    config: Config,
    diags: Vec<Diagnostic>,
    errors: usize,
    /// Warnings found (only the first MAX_SHOWN are kept).
    warnings: usize,
    /// Host names, resolved once each within the file's budget.
    names: value::Resolution,
    block: Option<OpenBlock>,
    saw_primary: bool,
    saw_primary_private: bool,
    saw_backup_private_line: u32,
    /// `virtual` blocks (by index) that did not name a scheduler: `mh` in a fleet.
    default_schedulers: Vec<usize>,
}

/// The arguments of one `key = value...` statement, after the count checks.
struct Stmt<'l> {
    line: u32,
    toks: Vec<Token<'l>>,
}

impl<'l> Stmt<'l> {
    fn key(&self) -> &'l str {
        self.toks[0].text
    }
    fn arg(&self, i: usize) -> &Token<'l> {
        &self.toks[2 + i]
    }
    fn nargs(&self) -> usize {
        self.toks.len().saturating_sub(2)
    }
}

type Outcome = Result<(), (Code, u32, String)>;

impl<'a> Parser<'a> {
    fn push(&mut self, severity: Severity, code: Code, line: u32, column: u32, hint: String) {
        self.record(Diagnostic {
            severity,
            code,
            file: self.file.to_string(),
            line,
            column,
            message: code.legacy_text().to_string(),
            hint,
        });
    }

    /// Keeps the first [`MAX_SHOWN`] errors and warnings, counts the rest.
    fn record(&mut self, d: Diagnostic) {
        let count = match d.severity {
            Severity::Error => &mut self.errors,
            Severity::Warning => &mut self.warnings,
        };
        *count += 1;
        if *count <= MAX_SHOWN {
            self.diags.push(d);
        }
    }

    /// One diagnostic for each capped list: how many were left out.
    fn summarise_left_out(&mut self) {
        for (severity, n) in [
            (Severity::Error, self.errors),
            (Severity::Warning, self.warnings),
        ] {
            if n > MAX_SHOWN {
                self.diags.push(more(self.file, severity, n - MAX_SHOWN));
            }
        }
    }

    fn warn(&mut self, line: u32, column: u32, message: String, hint: String) {
        self.record(Diagnostic {
            severity: Severity::Warning,
            code: Code::Semantic,
            file: self.file.to_string(),
            line,
            column,
            message,
            hint,
        });
    }

    /// Handles one physical line. Returns false when parsing cannot sensibly go on.
    fn line(&mut self, line: lexer::Line) -> bool {
        let number = line.number;
        let text = line.text;
        let toks = match line.tokens {
            Ok(t) => t,
            Err(e) => {
                self.push(
                    Severity::Error,
                    Code::BadQuoting,
                    number,
                    e.column,
                    "this quote has no closing partner on the same line".into(),
                );
                return true;
            }
        };
        if toks.is_empty() {
            return true;
        }
        let end_column = text.chars().count() as u32 + 1;
        let stmt = Stmt { line: number, toks };
        let in_server = self.block.as_ref().is_some_and(|b| b.server.is_some());
        let result = if stmt.key() == "}" {
            self.close(&stmt)
        } else if in_server {
            self.server_statement(&stmt, end_column)
        } else if self.block.is_some() {
            if stmt.key() == "server" {
                return self.open_server(&stmt, end_column);
            }
            self.virtual_statement(&stmt, end_column)
        } else if stmt.key() == "virtual" || stmt.key() == "failover" {
            return self.open_block(&stmt, end_column);
        } else {
            self.global_statement(&stmt, end_column)
        };
        if let Err((code, column, hint)) = result {
            self.push(Severity::Error, code, number, column, hint);
        }
        true
    }

    /// `virtual NAME {` / `failover NAME {` / `server NAME {`: exactly three tokens.
    fn block_header(&mut self, stmt: &Stmt, end_column: u32) -> Option<String> {
        let t = &stmt.toks;
        let err = if t.len() < 3 {
            Some((
                Code::MissingArgs,
                end_column,
                format!(
                    "write `{} NAME {{` with the brace as a separate word",
                    t[0].text
                ),
            ))
        } else if t.len() > 3 {
            Some((
                Code::ExtraArgs,
                t[3].column,
                "nothing may follow the `{` of a block header".into(),
            ))
        } else if t[2].text != "{" {
            Some((
                Code::MissingArgs,
                t[2].column,
                format!("expected `{{` after the name `{}`", t[1].text),
            ))
        } else {
            None
        };
        match err {
            Some((code, column, hint)) => {
                self.push(Severity::Error, code, stmt.line, column, hint);
                None
            }
            None => Some(t[1].text.to_string()),
        }
    }

    fn open_block(&mut self, stmt: &Stmt, end_column: u32) -> bool {
        let Some(name) = self.block_header(stmt, end_column) else {
            return false;
        };
        self.block = Some(OpenBlock {
            vs: VirtualServer::new(&name, stmt.line),
            failover: stmt.key() == "failover",
            defaulted_ports: Vec::new(),
            seen: Vec::new(),
            server: None,
        });
        true
    }

    fn open_server(&mut self, stmt: &Stmt, end_column: u32) -> bool {
        let Some(name) = self.block_header(stmt, end_column) else {
            return false;
        };
        let Some(block) = self.block.as_mut() else {
            return false;
        };
        block.server = Some(OpenServer {
            rs: RealServer {
                name,
                line: stmt.line,
                address: None,
                active: false,
                // Legacy: the virtual's port *as parsed so far*.
                port: block.vs.port,
                weight: 1,
            },
            port_explicit: false,
            seen: Vec::new(),
        });
        true
    }

    fn close(&mut self, stmt: &Stmt) -> Outcome {
        if stmt.toks.len() > 1 {
            // Legacy never checked this (the check ran after the tokens were freed).
            self.warn(
                stmt.line,
                stmt.toks[1].column,
                "words after `}` are ignored".into(),
                "remove them, or make them a comment on a line of their own".into(),
            );
        }
        let Some(block) = self.block.as_mut() else {
            return Err((
                Code::BadCommand,
                stmt.toks[0].column,
                "this `}` closes no block".into(),
            ));
        };
        if let Some(server) = block.server.take() {
            if !server.port_explicit {
                block.defaulted_ports.push(block.vs.servers.len());
            }
            block.vs.servers.push(server.rs);
            return Ok(());
        }
        let block = self.block.take().expect("checked above");
        if block.failover {
            if !block.vs.servers.is_empty() {
                self.warn(
                    block.vs.line,
                    0,
                    format!("failover {} has server blocks", block.vs.name),
                    "failover services do not use real servers; they are ignored".into(),
                );
            }
            self.config.failovers.push(block.vs);
        } else {
            if !block.seen.contains(&"scheduler") {
                self.default_schedulers.push(self.config.virtuals.len());
            }
            self.config.virtuals.push(block.vs);
        }
        Ok(())
    }

    /// A fleet's virtual services default to the Maglev scheduler, the one that picks
    /// the same real server on every director (docs/fleet.md).
    fn apply_fleet_scheduler_rule(&mut self) {
        if !self.config.is_fleet() {
            return;
        }
        for &i in &self.default_schedulers {
            self.config.virtuals[i].scheduler = "mh".to_string();
        }
    }

    fn finish_eof(&mut self) {
        if let Some(block) = &self.block {
            let (what, name, line) = match &block.server {
                Some(s) => ("server", s.rs.name.clone(), s.rs.line),
                None => (
                    if block.failover {
                        "failover"
                    } else {
                        "virtual"
                    },
                    block.vs.name.clone(),
                    block.vs.line,
                ),
            };
            self.push(
                Severity::Error,
                Code::UnterminatedBlock,
                line,
                0,
                format!(
                    "{what} {name} opened here is not closed by `}}` before the end of the file \
                     (legacy piranha silently accepted this)"
                ),
            );
        }
    }

    /// Legacy: when `primary` is set and `primary_private` is not, both private addresses
    /// become the public ones, overwriting an explicit `backup_private`.
    fn apply_private_address_rule(&mut self) {
        if self.saw_primary && !self.saw_primary_private {
            if self.saw_backup_private_line > 0 {
                self.warn(
                    self.saw_backup_private_line,
                    0,
                    "backup_private is ignored because primary_private is not set".into(),
                    "legacy pulse uses the public addresses for both directors then; set \
                     primary_private too to use a private heartbeat channel"
                        .into(),
                );
            }
            self.config.primary_private = self.config.primary.clone();
            self.config.backup_private = self.config.backup.clone();
        }
    }

    /// Legacy `CHECK_ARGS(n)`, generalised to `min..=max` value tokens.
    fn check_args(stmt: &Stmt, min: usize, max: usize, end_column: u32) -> Outcome {
        let t = &stmt.toks;
        if t.len() < 2 || t[1].text != "=" {
            let column = t.get(1).map(|t| t.column).unwrap_or(end_column);
            let hint = if t[0].text.contains('=') {
                format!(
                    "`=` must stand alone: write `{}`",
                    t[0].text.replacen('=', " = ", 1)
                )
            } else {
                format!("write `{} = VALUE`", t[0].text)
            };
            return Err((Code::EqualExpected, column, hint));
        }
        if stmt.nargs() < min {
            let hint = if min == 2 {
                format!(
                    "`{}` takes an address and a device, e.g. `192.168.0.100 eth0:1`",
                    t[0].text
                )
            } else {
                format!("`{}` needs a value", t[0].text)
            };
            return Err((Code::MissingArgs, end_column, hint));
        }
        if stmt.nargs() > max {
            let extra = &t[2 + max];
            let hint = if extra.text.starts_with('#') {
                "lvs.cf has no trailing comments; put the comment on a line of its own".to_string()
            } else if max == 1 {
                format!(
                    "`{}` takes one value; quote it if it contains blanks",
                    t[0].text
                )
            } else {
                format!("`{}` takes at most {max} values", t[0].text)
            };
            return Err((Code::ExtraArgs, extra.column, hint));
        }
        Ok(())
    }

    fn seen(seen: &mut Vec<&'static str>, key: &'static str) -> bool {
        if seen.contains(&key) {
            true
        } else {
            seen.push(key);
            false
        }
    }

    /// Converts a [`ValueError`] into the legacy code for this kind of value.
    fn value_error(tok: &Token, e: ValueError, host_code: Code) -> (Code, u32, String) {
        match e {
            ValueError::NotInteger { hint } => (Code::IntExpected, tok.column, hint),
            ValueError::NotBoolean => (
                Code::BoolExpected,
                tok.column,
                format!("write 0 or 1, not {}", tok.text),
            ),
            ValueError::Invalid { hint } => (Code::BadArgument, tok.column, hint),
            ValueError::BadHost { hint } => (host_code, tok.column, hint),
            ValueError::BadNetmask => (
                Code::BadNetmask,
                tok.column,
                format!("`{}` is not a netmask such as 255.255.255.0", tok.text),
            ),
        }
    }

    /// An integer value in `lo..=hi` (the statement's first value).
    fn int(
        &mut self,
        stmt: &Stmt,
        lo: i64,
        hi: i64,
        what: &str,
    ) -> Result<i64, (Code, u32, String)> {
        self.int_at(stmt.line, stmt.arg(0), lo, hi, what)
    }

    /// An integer token in `lo..=hi`; a leading zero (octal) is read as C strtol reads it
    /// and warned about.
    fn int_at(
        &mut self,
        line: u32,
        tok: &Token,
        lo: i64,
        hi: i64,
        what: &str,
    ) -> Result<i64, (Code, u32, String)> {
        let n = value::parse_ranged(tok.text, lo, hi, what)
            .map_err(|e| Self::value_error(tok, e, Code::BadArgument))?;
        if n.octal {
            self.octal_warning(line, tok, n.value);
        }
        Ok(n.value)
    }

    /// A port by number, or (where legacy allowed it) by TCP service name.
    fn port_or_service(&mut self, line: u32, tok: &Token) -> Result<u16, (Code, u32, String)> {
        if value::parse_int(tok.text).is_ok() {
            return Ok(self.int_at(line, tok, 0, 65535, "a port")? as u16);
        }
        value::parse_port_or_service(tok.text)
            .map_err(|e| Self::value_error(tok, e, Code::BadArgument))
    }

    fn octal_warning(&mut self, line: u32, tok: &Token, value: i64) {
        self.warn(
            line,
            tok.column,
            format!(
                "`{}` has a leading zero and is read as octal: {value}",
                tok.text
            ),
            "legacy piranha reads numbers like C strtol; drop the leading zero if you meant \
             decimal"
                .into(),
        );
    }

    fn boolean(stmt: &Stmt) -> Result<bool, (Code, u32, String)> {
        let tok = stmt.arg(0);
        value::parse_bool(tok.text).map_err(|e| Self::value_error(tok, e, Code::BadArgument))
    }

    /// A host that must not be 0.0.0.0 (or ::), refused with `why` otherwise.
    fn specified_host(
        &self,
        tok: &Token,
        why: impl FnOnce() -> String,
    ) -> Result<Host, (Code, u32, String)> {
        let h = self.host(tok)?;
        if h.addr.is_unspecified() {
            return Err((Code::BadHostname, tok.column, why()));
        }
        Ok(h)
    }

    fn host(&self, tok: &Token) -> Result<Host, (Code, u32, String)> {
        let addr = self
            .names
            .host(tok.text)
            .map_err(|e| Self::value_error(tok, e, Code::BadArgument))?;
        Ok(Host {
            name: tok.text.to_string(),
            addr,
        })
    }

    fn netmask(tok: &Token) -> Result<Option<Ipv4Addr>, (Code, u32, String)> {
        match value::inet_aton(tok.text) {
            Some(m) if m.is_unspecified() => Ok(None),
            Some(m) => Ok(Some(m)),
            None => Err(Self::value_error(
                tok,
                ValueError::BadNetmask,
                Code::BadNetmask,
            )),
        }
    }

    fn keyword_choice<T: Copy>(
        tok: &Token,
        choices: &[(&str, T)],
    ) -> Result<T, (Code, u32, String)> {
        choices
            .iter()
            .find(|(k, _)| *k == tok.text)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(k, _)| *k).collect();
                (
                    Code::BadArgument,
                    tok.column,
                    format!("`{}` is not one of: {}", tok.text, names.join(", ")),
                )
            })
    }

    fn address_device(&self, stmt: &Stmt) -> Result<AddressDevice, (Code, u32, String)> {
        Ok(AddressDevice {
            host: self.host(stmt.arg(0))?,
            device: stmt.arg(1).text.to_string(),
        })
    }

    fn global_statement(&mut self, stmt: &Stmt, end: u32) -> Outcome {
        let key = stmt.key();
        let Some(key) = GLOBAL_KEYWORDS
            .iter()
            .chain(EXTENSION_GLOBAL_KEYWORDS)
            .chain(crate::fleet::FLEET_GLOBAL_KEYWORDS)
            .find(|k| **k == key)
            .copied()
        else {
            return Err(unknown_keyword(stmt, Scope::Global));
        };
        let (min, max) = match key {
            "nat_router" | "bgp_peer" => (2, 2),
            _ => (1, 1),
        };
        Self::check_args(stmt, min, max, end)?;
        let tok = *stmt.arg(0);
        match key {
            "service"
            | "primary"
            | "primary_private"
            | "backup_private"
            | "backup"
            | "primary_shared"
            | "backup_shared"
            | "reservation_conflict_action" => self.director_statement(key, stmt, tok),
            "backup_active" | "heartbeat" | "heartbeat_port" | "keepalive" | "deadtime"
            | "heartbeat_auth" | "heartbeat_key" | "heartbeat_key_id" | "preempt_delay"
            | "arp_refresh" | "warm_standby" => self.heartbeat_statement(key, stmt, tok),
            k if crate::fleet::FLEET_GLOBAL_KEYWORDS.contains(&k) => {
                self.fleet_statement(key, stmt, tok)
            }
            _ => self.service_statement(key, stmt, tok),
        }
    }

    /// A global statement: the directors: which service, which hosts, their shared storage.
    fn director_statement(&mut self, key: &str, stmt: &Stmt, tok: Token<'_>) -> Outcome {
        match key {
            "service" => {
                self.config.service = Self::keyword_choice(
                    &tok,
                    &[("lvs", ServiceType::Lvs), ("fos", ServiceType::Fos)],
                )?
            }
            "primary" => {
                let h = self.specified_host(&tok, || {
                    "primary must be this cluster's primary director address".into()
                })?;
                self.saw_primary = true;
                self.config.primary = Some(h);
            }
            "primary_private" | "backup_private" => {
                let h = self.specified_host(&tok, || {
                    format!("{key} cannot be 0.0.0.0; leave it out instead")
                })?;
                if key == "primary_private" {
                    self.saw_primary_private = true;
                    self.config.primary_private = Some(h);
                } else {
                    self.saw_backup_private_line = stmt.line;
                    self.config.backup_private = Some(h);
                }
            }
            "backup" => {
                let h = self.host(&tok)?;
                // 0.0.0.0 means "no backup director".
                self.config.backup = (!h.addr.is_unspecified()).then_some(h);
            }
            "primary_shared" => self.config.primary_shared = Some(tok.text.to_string()),
            "backup_shared" => self.config.backup_shared = Some(tok.text.to_string()),
            "reservation_conflict_action" => {
                self.config.reservation_conflict_action = Some(Self::keyword_choice(
                    &tok,
                    &[
                        ("nothing", ReservationConflictAction::Nothing),
                        ("preempt", ReservationConflictAction::Preempt),
                    ],
                )?)
            }
            _ => unreachable!("every GLOBAL_KEYWORDS entry is handled"),
        }
        Ok(())
    }

    /// A global statement: the heartbeat and the takeover: who heartbeats, how often, signed or not, preemption.
    fn heartbeat_statement(&mut self, key: &str, stmt: &Stmt, tok: Token<'_>) -> Outcome {
        match key {
            "backup_active" => self.config.backup_active = Self::boolean(stmt)?,
            "heartbeat" => self.config.heartbeat = Self::boolean(stmt)?,
            "heartbeat_port" => {
                self.config.heartbeat_port = self.port_or_service(stmt.line, &tok)?
            }
            "keepalive" | "deadtime" => {
                let d = value::parse_seconds(tok.text)
                    .map_err(|e| Self::value_error(&tok, e, Code::BadArgument))?;
                if value::parse_int(tok.text).is_ok_and(|n| n.octal) {
                    self.octal_warning(stmt.line, &tok, d.as_secs() as i64);
                }
                if key == "keepalive" {
                    self.config.keepalive = d;
                } else {
                    self.config.deadtime = d;
                }
            }
            "heartbeat_auth" => {
                self.config.heartbeat_auth = Self::keyword_choice(
                    &tok,
                    &[
                        ("off", HeartbeatAuth::Off),
                        ("permissive", HeartbeatAuth::Permissive),
                        ("enforce", HeartbeatAuth::Enforce),
                    ],
                )?
            }
            "heartbeat_key" => self.config.heartbeat_key = Some(tok.text.to_string()),
            "heartbeat_key_id" => {
                self.config.heartbeat_key_id = self.int(stmt, 0, 255, key)? as u8;
            }
            "preempt_delay" | "arp_refresh" => {
                let d = value::parse_seconds(tok.text)
                    .map_err(|e| Self::value_error(&tok, e, Code::BadArgument))?;
                // 0 is "off", as for the legacy keywords that are 0 when unused.
                let d = (!d.is_zero()).then_some(d);
                if key == "preempt_delay" {
                    self.config.preempt_delay = d;
                } else {
                    self.config.arp_refresh = d;
                }
            }
            "warm_standby" => self.config.warm_standby = Self::boolean(stmt)?,
            _ => unreachable!("every GLOBAL_KEYWORDS entry is handled"),
        }
        Ok(())
    }

    /// A global statement: iPVS and the daemons: forwarding, NAT router, sync daemon, timeouts, commands, extensions.
    fn service_statement(&mut self, key: &str, stmt: &Stmt, tok: Token<'_>) -> Outcome {
        match key {
            "network" => self.config.network = Self::network(&tok)?,
            "nat_router" => self.config.nat_router = Some(self.address_device(stmt)?),
            "nat_nmask" => self.config.nat_nmask = Self::netmask(&tok)?,
            "rsh_command" => self.config.rsh_command = tok.text.to_string(),
            "ipvsadm" => self.config.ipvsadm = tok.text.to_string(),
            "syncdaemon" => self.config.syncdaemon = Self::boolean(stmt)?,
            "syncd_iface" => self.config.syncd_iface = tok.text.to_string(),
            "syncd_id" => {
                let id = self.int(stmt, 0, u32::MAX.into(), "syncd_id")?;
                if id > 255 {
                    self.warn(
                        stmt.line,
                        tok.column,
                        format!("syncd_id {id} is larger than 255"),
                        format!("only the low 8 bits are used: {}", id & 0xff),
                    );
                }
                self.config.syncd_id = id as u32;
            }
            "tcp_timeout" | "tcpfin_timeout" | "udp_timeout" => {
                let v = self.int(stmt, 0, i32::MAX.into(), key)? as u32;
                match key {
                    "tcp_timeout" => self.config.tcp_timeout = v,
                    "tcpfin_timeout" => self.config.tcpfin_timeout = v,
                    _ => self.config.udp_timeout = v,
                }
            }
            "hard_shutdown" => self.config.hard_shutdown = Self::boolean(stmt)?,
            "monitor_links" => {
                // Legacy reads an integer and treats any non-zero value as "on".
                self.config.monitor_links = self.int(stmt, i64::MIN, i64::MAX, key)? != 0
            }
            "active_cmd" => self.config.active_cmd = Some(tok.text.to_string()),
            "inactive_cmd" => self.config.inactive_cmd = Some(tok.text.to_string()),
            "debug_level" => self.config.debug_level = tok.text.to_string(),
            "serial_no" => self.config.serial_no = self.int(stmt, i64::MIN, i64::MAX, key)?,
            "sync" => self.config.sync = Self::boolean(stmt)?,
            "integrated_monitors" => self.config.integrated_monitors = Self::boolean(stmt)?,
            "status_http" => {
                self.config.status_http = value::parse_listen(tok.text)
                    .map_err(|e| Self::value_error(&tok, e, Code::BadArgument))?
            }

            _ => unreachable!("every GLOBAL_KEYWORDS entry is handled"),
        }
        Ok(())
    }

    /// A global statement of the fleet extension (crate::fleet).
    fn fleet_statement(&mut self, key: &str, stmt: &Stmt, tok: Token<'_>) -> Outcome {
        match key {
            "director" => {
                let h = self.specified_host(&tok, || "a director needs its own address".into())?;
                self.config.fleet.directors.push(h);
            }
            "bgp_local_as" | "bgp_peer" => {
                let at = if key == "bgp_peer" { 1 } else { 0 };
                let asn =
                    self.int_at(stmt.line, stmt.arg(at), 1, u32::MAX.into(), "an AS number")?;
                if key == "bgp_local_as" {
                    self.config.fleet.local_as = Some(asn as u32);
                } else {
                    let addr = self.host(&tok)?.addr;
                    let asn = asn as u32;
                    self.config
                        .fleet
                        .peers
                        .push(crate::fleet::BgpPeer { addr, asn });
                }
            }
            "bgp_next_hop" => {
                self.config.fleet.next_hop = match tok.text {
                    "self" => None,
                    _ => Some(self.host(&tok)?.addr),
                }
            }
            "bgp_bfd" => self.config.fleet.bfd = Self::boolean(stmt)?,
            "bird_socket" => self.config.fleet.bird_socket = tok.text.to_string(),
            "bird_include" => self.config.fleet.bird_include = tok.text.to_string(),
            _ => unreachable!("every FLEET_GLOBAL_KEYWORDS entry is handled"),
        }
        Ok(())
    }

    /// `network = nat | direct | tunnel`, globally or (extension) in a virtual block.
    fn network(tok: &Token) -> Result<Network, (Code, u32, String)> {
        Self::keyword_choice(
            tok,
            &[
                ("nat", Network::Nat),
                ("direct", Network::Direct),
                ("tunnel", Network::Tunnel),
            ],
        )
    }

    fn quoted(tok: &Token) -> QuotedString {
        QuotedString {
            text: tok.text.to_string(),
            quote: tok.quote,
        }
    }

    fn virtual_statement(&mut self, stmt: &Stmt, end: u32) -> Outcome {
        let key = stmt.key();
        let Some(key) = VIRTUAL_KEYWORDS
            .iter()
            .chain(EXTENSION_VIRTUAL_KEYWORDS)
            .find(|k| **k == key)
            .copied()
        else {
            let failover = self.block.as_ref().is_some_and(|b| b.failover);
            return Err(unknown_keyword(
                stmt,
                if failover {
                    Scope::Failover
                } else {
                    Scope::Virtual
                },
            ));
        };
        if key == "dirs" {
            return self.dirs(stmt, end);
        }
        let (min, max) = match key {
            "address" => (2, 2),
            "sorry_server" => (1, 2),
            _ => (1, 1),
        };
        Self::check_args(stmt, min, max, end)?;
        let tok = *stmt.arg(0);
        let value = self.virtual_value(stmt, key, &tok)?;
        let block = self
            .block
            .as_mut()
            .expect("virtual_statement runs inside a block");
        let repeated = Self::seen(&mut block.seen, key);
        store(&mut block.vs, key, value, (stmt.line, tok.column));
        let late_port = key == "port" && !block.defaulted_ports.is_empty();
        let name = block.vs.name.clone();
        self.warn_setting(stmt, key, &name, repeated, late_port);
        Ok(())
    }

    /// The warnings a block setting may earn: set twice, or `port` after servers that took
    /// the port in force when they were declared.
    fn warn_setting(
        &mut self,
        stmt: &Stmt,
        key: &str,
        name: &str,
        repeated: bool,
        late_port: bool,
    ) {
        if repeated {
            self.warn(
                stmt.line,
                stmt.toks[0].column,
                format!("`{key}` is set more than once in {name}"),
                "the last value wins".into(),
            );
        }
        if late_port {
            self.warn(
                stmt.line,
                stmt.toks[0].column,
                format!(
                    "`port` of {name} is set after server blocks that have no port of their own"
                ),
                "those servers keep the port that was in force when they were declared (legacy \
                 rule); give them an explicit port or move this line up"
                    .into(),
            );
        }
    }

    fn virtual_value(
        &mut self,
        stmt: &Stmt,
        key: &str,
        tok: &Token,
    ) -> Result<VValue, (Code, u32, String)> {
        Ok(match key {
            "active" | "use_regex" | "quiesce_server" | "announce" => {
                VValue::Bool(Self::boolean(stmt)?)
            }
            "scheduler_flags" => Self::scheduler_flags(tok)?,
            "address" => VValue::Address(self.address_device(stmt)?),
            "sorry_server" => self.sorry_value(stmt, tok)?,
            "vip_nmask" => VValue::Mask(Self::netmask(tok)?),
            "pmask" => self.pmask_value(stmt, tok),
            "port" => VValue::Port(self.port_or_service(stmt.line, tok)?),
            "protocol" => VValue::Protocol(Self::keyword_choice(
                tok,
                &[
                    ("tcp", Protocol::Tcp),
                    ("udp", Protocol::Udp),
                    ("sctp", Protocol::Sctp),
                ],
            )?),
            "fwmark" => VValue::Num(self.int(stmt, 0, u32::MAX.into(), "fwmark")? as u32),
            "persistent" | "timeout" | "reentry" => {
                VValue::Num(self.int(stmt, 0, i32::MAX.into(), key)? as u32)
            }
            "scheduler" => Self::scheduler_value(tok)?,
            "load_monitor" | "client_monitor" => VValue::Text(tok.text.to_string()),
            "send" | "expect" | "send_program" | "start_cmd" | "stop_cmd" => {
                VValue::Quoted(Self::quoted(tok))
            }
            "master" => VValue::Master(self.host(tok)?),
            "network" => VValue::Network(Self::network(tok)?),
            _ => unreachable!("every VIRTUAL_KEYWORDS entry is handled"),
        })
    }

    /// `sorry_server = ADDRESS [PORT]` (an unspecified address means none).
    fn sorry_value(&mut self, stmt: &Stmt, tok: &Token) -> Result<VValue, (Code, u32, String)> {
        let addr = value::parse_addr_literal(tok.text).ok_or_else(|| {
            (
                Code::BadHostname,
                tok.column,
                format!(
                    "`{}` is not an IP address (sorry_server takes no host names)",
                    tok.text
                ),
            )
        })?;
        let port = match stmt.toks.get(3) {
            Some(p) => Some(self.int_at(stmt.line, p, 0, 65535, "a port")? as u16),
            None => None,
        };
        if addr.is_unspecified() {
            Ok(VValue::Ignored)
        } else {
            Ok(VValue::Sorry(SorryServer { addr, port }))
        }
    }

    /// `pmask = NETMASK`: legacy ignored one it could not read (said here).
    fn pmask_value(&mut self, stmt: &Stmt, tok: &Token) -> VValue {
        match value::inet_aton(tok.text) {
            // Legacy turned the literal 255.255.255.255 into "no mask".
            Some(m) if tok.text == "255.255.255.255" || m.is_unspecified() => VValue::Mask(None),
            Some(m) => VValue::Mask(Some(m)),
            None => {
                self.warn(
                    stmt.line,
                    tok.column,
                    format!("pmask `{}` is not a netmask and is ignored", tok.text),
                    "legacy piranha ignored it silently; write a mask such as 255.255.255.0".into(),
                );
                VValue::Ignored
            }
        }
    }

    /// `scheduler = NAME`: a legacy scheduler or one of the extensions.
    fn scheduler_value(tok: &Token) -> Result<VValue, (Code, u32, String)> {
        if !LEGACY_SCHEDULERS.contains(&tok.text) && !EXTENSION_SCHEDULERS.contains(&tok.text) {
            return Err((
                Code::BadArgument,
                tok.column,
                format!(
                    "`{}` is not an IPVS scheduler; use one of {} (or the extensions {})",
                    tok.text,
                    LEGACY_SCHEDULERS.join(" "),
                    EXTENSION_SCHEDULERS.join(" ")
                ),
            ));
        }
        Ok(VValue::Text(tok.text.to_string()))
    }

    /// `scheduler_flags = mh-port,mh-fallback`: ipvsadm's `-b` names, comma-separated.
    fn scheduler_flags(tok: &Token) -> Result<VValue, (Code, u32, String)> {
        let flags: Vec<String> = tok.text.split(',').map(str::to_string).collect();
        match flags
            .iter()
            .find(|f| !crate::fleet::SCHEDULER_FLAGS.contains(&f.as_str()))
        {
            Some(bad) => Err((
                Code::BadArgument,
                tok.column,
                format!(
                    "`{bad}` is not a scheduler flag; use {} (comma-separated)",
                    crate::fleet::SCHEDULER_FLAGS.join(", ")
                ),
            )),
            None => Ok(VValue::Flags(flags)),
        }
    }

    /// `dirs = [ a b c ]` (parsed, unused): `[` and `]` are separate tokens.
    fn dirs(&mut self, stmt: &Stmt, end: u32) -> Outcome {
        let t = &stmt.toks;
        if t.len() < 2 || t[1].text != "=" {
            return Err((
                Code::EqualExpected,
                t.get(1).map(|t| t.column).unwrap_or(end),
                "write `dirs = [ a b ]`".into(),
            ));
        }
        let list_err = |column| {
            (
                Code::ListExpected,
                column,
                "write the list as `[ a b ]` with the brackets as separate words".to_string(),
            )
        };
        if t.get(2).map(|t| t.text) != Some("[") {
            return Err(list_err(t.get(2).map(|t| t.column).unwrap_or(end)));
        }
        let Some(close) = t.iter().skip(3).position(|t| t.text == "]") else {
            return Err(list_err(end));
        };
        let items = t[3..3 + close].iter().map(|t| t.text.to_string()).collect();
        if let Some(extra) = t.get(4 + close) {
            self.warn(
                stmt.line,
                extra.column,
                "words after the `]` of a list are ignored".into(),
                String::new(),
            );
        }
        if let Some(block) = self.block.as_mut() {
            block.vs.dirs = Some(items);
        }
        Ok(())
    }

    fn server_statement(&mut self, stmt: &Stmt, end: u32) -> Outcome {
        let key = stmt.key();
        let Some(key) = SERVER_KEYWORDS.iter().find(|k| **k == key).copied() else {
            return Err(unknown_keyword(stmt, Scope::Server));
        };
        Self::check_args(stmt, 1, 1, end)?;
        let tok = *stmt.arg(0);
        enum SValue {
            Address(Option<Host>),
            Active(bool),
            Port(u16),
            Weight(u32),
        }
        let value = match key {
            "address" => {
                let h = self.host(&tok)?;
                SValue::Address((!h.addr.is_unspecified()).then_some(h))
            }
            "active" => SValue::Active(Self::boolean(stmt)?),
            // Real-server ports are numbers only (no service names), as in legacy.
            "port" => SValue::Port(self.int(stmt, 0, 65535, "a port")? as u16),
            _ => SValue::Weight(self.int(stmt, 0, i32::MAX.into(), "weight")? as u32),
        };
        let block = self
            .block
            .as_mut()
            .expect("server_statement runs inside a block");
        let server = block
            .server
            .as_mut()
            .expect("server_statement runs inside a server");
        let repeated = Self::seen(&mut server.seen, key);
        match value {
            SValue::Address(a) => server.rs.address = a,
            SValue::Active(b) => server.rs.active = b,
            SValue::Port(p) => {
                server.rs.port = p;
                server.port_explicit = true;
            }
            SValue::Weight(w) => server.rs.weight = w,
        }
        if repeated {
            let name = server.rs.name.clone();
            self.warn(
                stmt.line,
                stmt.toks[0].column,
                format!("`{key}` is set more than once in server {name}"),
                "the last value wins".into(),
            );
        }
        Ok(())
    }
}

enum VValue {
    Bool(bool),
    Address(AddressDevice),
    Mask(Option<Ipv4Addr>),
    Port(u16),
    Protocol(Protocol),
    Num(u32),
    Text(String),
    Quoted(QuotedString),
    Sorry(SorryServer),
    Master(Host),
    Network(Network),
    Flags(Vec<String>),
    Ignored,
}

/// Every global keyword legacy accepts (docs/legacy.md, "lvs.cf").
pub const GLOBAL_KEYWORDS: &[&str] = &[
    "service",
    "primary",
    "primary_private",
    "primary_shared",
    "backup",
    "backup_private",
    "backup_shared",
    "backup_active",
    "reservation_conflict_action",
    "heartbeat",
    "heartbeat_port",
    "keepalive",
    "deadtime",
    "network",
    "nat_router",
    "nat_nmask",
    "rsh_command",
    "ipvsadm",
    "syncdaemon",
    "syncd_iface",
    "syncd_id",
    "tcp_timeout",
    "tcpfin_timeout",
    "udp_timeout",
    "hard_shutdown",
    "monitor_links",
    "active_cmd",
    "inactive_cmd",
    "debug_level",
    "serial_no",
    "sync",
];

/// Global keywords of piranha-rs that legacy piranha does not know (docs/differences.md,
/// lvs.cf(5) "EXTENSIONS"); a legacy daemon refuses a file that uses them.
pub(crate) const EXTENSION_GLOBAL_KEYWORDS: &[&str] = &[
    "heartbeat_auth",
    "heartbeat_key",
    "heartbeat_key_id",
    "preempt_delay",
    "warm_standby",
    "arp_refresh",
    "status_http",
    "integrated_monitors",
];

/// Every `virtual`/`failover` keyword (docs/legacy.md, "lvs.cf"); `server` and `}` are structure.
pub const VIRTUAL_KEYWORDS: &[&str] = &[
    "active",
    "address",
    "sorry_server",
    "vip_nmask",
    "fwmark",
    "protocol",
    "port",
    "scheduler",
    "persistent",
    "pmask",
    "client_monitor",
    "send_program",
    "send",
    "expect",
    "use_regex",
    "timeout",
    "reentry",
    "load_monitor",
    "quiesce_server",
    "start_cmd",
    "stop_cmd",
    "master",
    "dirs",
];

/// `virtual` keywords of piranha-rs that legacy piranha does not know (lvs.cf(5)
/// "EXTENSIONS"): `network` overrides the global forwarding method for one service.
pub(crate) const EXTENSION_VIRTUAL_KEYWORDS: &[&str] = &["network", "announce", "scheduler_flags"];

/// Every `server` keyword (docs/legacy.md, "lvs.cf").
pub const SERVER_KEYWORDS: &[&str] = &["address", "active", "port", "weight"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Global,
    Virtual,
    Failover,
    Server,
}

/// "unknown command", with a hint for the common mistakes.
fn unknown_keyword(stmt: &Stmt, scope: Scope) -> (Code, u32, String) {
    let key = stmt.key();
    let scope_name = match scope {
        Scope::Global => "at the top level",
        Scope::Virtual => "inside a virtual block",
        Scope::Failover => "inside a failover block",
        Scope::Server => "inside a server block",
    };
    let hint = if key.contains('=') {
        format!(
            "`=` must stand alone: write `{}`",
            key.replacen('=', " = ", 1)
        )
    } else if scope != Scope::Global
        && (GLOBAL_KEYWORDS.contains(&key) || EXTENSION_GLOBAL_KEYWORDS.contains(&key))
    {
        format!("`{key}` is a global keyword; it belongs outside the blocks")
    } else if scope == Scope::Server && VIRTUAL_KEYWORDS.contains(&key) {
        format!("`{key}` belongs to the virtual block, not to a server (is a `}}` missing?)")
    } else if scope != Scope::Global && matches!(key, "virtual" | "failover" | "server") {
        "blocks do not nest: is the `}` of the previous block missing?".to_string()
    } else if scope == Scope::Global && (VIRTUAL_KEYWORDS.contains(&key) || key == "server") {
        format!("`{key}` belongs inside a virtual block")
    } else {
        match key {
            "debug" => "the keyword is `debug_level`".into(),
            "nmask" => "the piranha GUI writes `nmask` in server blocks, but the daemons never \
                        accepted it; remove the line"
                .into(),
            "expect_program" => "the GUI's `expect_program` was never accepted by the daemons; \
                                 use send_program with expect"
                .into(),
            "lvs_sync_daemon_interface" | "lb_algo" | "lb_kind" | "delay_loop" => {
                "that is a keepalived keyword; see lvs.cf(5)".into()
            }
            _ => format!("`{key}` is not an lvs.cf keyword {scope_name}; see lvs.cf(5)"),
        }
    };
    (Code::BadCommand, stmt.toks[0].column, hint)
}

/// A block setting's value into the block.
fn store(vs: &mut VirtualServer, key: &str, value: VValue, at: (u32, u32)) {
    match value {
        VValue::Bool(b) => match key {
            "active" => vs.active = b,
            "use_regex" => vs.use_regex = b,
            "announce" => vs.announce = b,
            _ => vs.quiesce_server = b,
        },
        VValue::Address(a) => vs.address = Some(a),
        VValue::Mask(m) => match key {
            "vip_nmask" => vs.vip_nmask = m,
            _ => vs.pmask = m,
        },
        VValue::Port(p) => vs.port = p,
        VValue::Protocol(p) => vs.protocol = p,
        VValue::Num(n) => match key {
            "fwmark" => vs.fwmark = n,
            "persistent" => vs.persistent = n,
            "timeout" => vs.timeout = n,
            _ => vs.reentry = n,
        },
        VValue::Text(s) => match key {
            "scheduler" => vs.scheduler = s,
            "load_monitor" => vs.load_monitor = Some(s),
            _ => vs.client_monitor = s,
        },
        VValue::Quoted(q) => match key {
            "send" => vs.send = Some(q),
            "expect" => {
                vs.expect = Some(q);
                vs.expect_at = at;
            }
            "send_program" => vs.send_program = Some(q),
            "start_cmd" => vs.start_cmd = Some(q),
            _ => vs.stop_cmd = Some(q),
        },
        VValue::Sorry(s) => vs.sorry_server = Some(s),
        VValue::Network(n) => vs.network = Some(n),
        VValue::Flags(f) => vs.scheduler_flags = f,
        VValue::Master(h) => vs.master = Some(h),
        VValue::Ignored => {}
    }
}
