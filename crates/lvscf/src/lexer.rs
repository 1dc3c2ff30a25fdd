//! Physical lines and tokens of an lvs.cf file.
//!
//! The pest grammar in `lvs_cf.pest` splits text into physical lines (`\n`, `\r\n` and a
//! lone `\r` each end one; legacy split CRLF files wrongly, see `docs/differences.md`) and
//! lines into tokens. The file is fed to pest in chunks of whole lines, so that memory
//! stays bounded by a few chunks whatever the file size; a long file's chunks are lexed
//! on threads of their own ([`for_each_line`]).

use pest::iterators::Pair;
use pest::Parser as _;
use pest_derive::Parser;

#[derive(Parser)]
#[grammar = "lvs_cf.pest"]
struct LineGrammar;

/// How a token was written. Quoted tokens exclude their quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    None,
    Double,
    Single,
}

impl Quote {
    pub fn char(self) -> Option<char> {
        match self {
            Quote::None => None,
            Quote::Double => Some('"'),
            Quote::Single => Some('\''),
        }
    }
}

/// One token of a line, borrowed from the file text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub text: &'a str,
    pub quote: Quote,
    /// 1-based column of the token's first character (the quote, if quoted).
    pub column: u32,
}

/// Why a line could not be tokenized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// 1-based column of the opening quote without a partner.
    pub column: u32,
}

/// One physical line and its tokens. Comment and blank lines have no tokens.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    /// 1-based physical line number.
    pub number: u32,
    pub text: &'a str,
    pub tokens: Result<Vec<Token<'a>>, LexError>,
}

/// Lines go to pest in chunks of about this many bytes (cut at a line end).
const CHUNK_BYTES: usize = 64 * 1024;
/// At most this many threads lex the chunks of a long file.
const MAX_LEXERS: usize = 4;

/// Calls `f` for every physical line of `text`, in order, until `f` returns false.
///
/// A file of more than one chunk is lexed on threads of its own, each taking every
/// n-th chunk, while `f` takes the lines of the chunks already lexed here, in order:
/// lexing is three quarters of reading lvs.cf, and lvsd's start-up waits for it
/// (docs/architecture.md, "Performance"). Memory stays bounded by a few chunks (each
/// lexer at most one chunk ahead of `f`), whatever the file size.
pub(crate) fn for_each_line<'a>(text: &'a str, f: impl FnMut(Line<'a>) -> bool) {
    let lexers = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_LEXERS));
    if text.len() <= CHUNK_BYTES || lexers < 2 {
        lex_here(text, f);
    } else {
        lex_on_threads(text, lexers, f);
    }
}

/// The chunks of `text`, in order.
fn chunks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (chunk, after) = split_chunk(rest);
        rest = after;
        Some(chunk)
    })
}

/// One chunk's lines, their tokens in one buffer: a lexer thread allocates per chunk,
/// not per line (lvsd keeps one malloc arena, which the threads would contend for).
struct Lexed<'a> {
    lines: Vec<(&'a str, Result<std::ops::Range<usize>, LexError>)>,
    tokens: Vec<Token<'a>>,
}

/// Numbers the lines of one chunk after the `number` lines before it and gives them to
/// `f`; false once `f` asked to stop.
fn deliver<'a>(chunk: Lexed<'a>, number: &mut u32, f: &mut impl FnMut(Line<'a>) -> bool) -> bool {
    for (text, tokens) in chunk.lines {
        *number += 1;
        let line = Line {
            number: *number,
            text,
            tokens: tokens.map(|r| chunk.tokens[r].to_vec()),
        };
        if !f(line) {
            return false;
        }
    }
    true
}

fn lex_here<'a>(text: &'a str, mut f: impl FnMut(Line<'a>) -> bool) {
    let mut number = 0;
    for chunk in chunks(text) {
        if !deliver(lex_chunk(chunk), &mut number, &mut f) {
            return;
        }
    }
}

/// `lexers` threads lex chunks k, k + lexers, ...; each hands its chunks over through a
/// channel of one, so that `f` receives them in order. When `f` stops, the receivers
/// are dropped and every lexer ends at its next hand-over. If a thread cannot be
/// started, the file is lexed here.
fn lex_on_threads<'a>(text: &'a str, lexers: usize, mut f: impl FnMut(Line<'a>) -> bool) {
    std::thread::scope(|scope| {
        let mut receivers = Vec::with_capacity(lexers);
        for k in 0..lexers {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Lexed<'a>>(1);
            let lexer = move || {
                for chunk in chunks(text).skip(k).step_by(lexers) {
                    if tx.send(lex_chunk(chunk)).is_err() {
                        return;
                    }
                }
            };
            if std::thread::Builder::new()
                .name("lvs.cf lexer".into())
                .spawn_scoped(scope, lexer)
                .is_err()
            {
                drop(receivers);
                return lex_here(text, f);
            }
            receivers.push(rx);
        }
        let mut number = 0;
        // A lexer that has ended without a chunk k means there is no chunk k.
        for rx in receivers.iter().cycle() {
            let Ok(lines) = rx.recv() else { return };
            if !deliver(lines, &mut number, &mut f) {
                return;
            }
        }
    });
}

/// The lines of one chunk.
fn lex_chunk(chunk: &str) -> Lexed<'_> {
    // Sized for lvs.cf's usual lines (about 20 bytes, 3 tokens) so that they rarely grow.
    let mut lexed = Lexed {
        lines: Vec::with_capacity(chunk.len() / 16),
        tokens: Vec::with_capacity(chunk.len() / 6),
    };
    let Ok(pairs) = LineGrammar::parse(Rule::lines, chunk) else {
        // The grammar matches any text, so this is unreachable; degrade to one line per
        // chunk rather than panicking on a pest internal error.
        lexed.lines.push((chunk, Err(LexError { column: 1 })));
        return lexed;
    };
    for line in pairs.filter(|line| line.as_rule() == Rule::line) {
        let first = lexed.tokens.len();
        let text = line.as_str();
        let tokens = lex_line(line, &mut lexed.tokens).map(|()| first..lexed.tokens.len());
        lexed.lines.push((text, tokens));
    }
    lexed
}

/// The physical lines of raw bytes as the lexer counts them (LF, CRLF and a lone CR each
/// end one line): number, content range and the length of its line end. For checks
/// made before the text is lexed (length, encoding).
pub(crate) fn physical_lines(
    bytes: &[u8],
) -> impl Iterator<Item = (u32, std::ops::Range<usize>, usize)> + '_ {
    let mut start = 0;
    let mut number = 0u32;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .map_or(bytes.len(), |p| start + p);
        let eol = match &bytes[end..] {
            [b'\r', b'\n', ..] => 2,
            [] => 0,
            _ => 1,
        };
        number += 1;
        let line = (number, start..end, eol);
        start = end + eol;
        Some(line)
    })
}

/// Splits off a chunk of whole lines of about [`CHUNK_BYTES`], without its final line end.
fn split_chunk(text: &str) -> (&str, &str) {
    if text.len() <= CHUNK_BYTES {
        let trimmed = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .or_else(|| text.strip_suffix('\r'))
            .unwrap_or(text);
        return (trimmed, "");
    }
    let bytes = text.as_bytes();
    let Some(offset) = bytes[CHUNK_BYTES..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
    else {
        return (text, "");
    };
    let end = CHUNK_BYTES + offset;
    let eol = if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') {
        2
    } else {
        1
    };
    (&text[..end], &text[end + eol..])
}

/// Appends the tokens of one line to `tokens`.
fn lex_line<'a>(line: Pair<'a, Rule>, tokens: &mut Vec<Token<'a>>) -> Result<(), LexError> {
    let text = line.as_str();
    let start = line.as_span().start();
    let ascii = text.is_ascii();
    let column = |byte: usize| -> u32 {
        let offset = byte - start;
        if ascii {
            offset as u32 + 1
        } else {
            text[..offset].chars().count() as u32 + 1
        }
    };
    for pair in line.into_inner() {
        let column = column(pair.as_span().start());
        let (text, quote) = match pair.as_rule() {
            Rule::bare_token => (pair.as_str(), Quote::None),
            Rule::dq_token | Rule::sq_token => {
                let quote = if pair.as_rule() == Rule::dq_token {
                    Quote::Double
                } else {
                    Quote::Single
                };
                let body = pair.into_inner().next().map_or("", |p| p.as_str());
                (body, quote)
            }
            Rule::unterminated => return Err(LexError { column }),
            _ => continue, // comment
        };
        tokens.push(Token {
            text,
            quote,
            column,
        });
    }
    Ok(())
}

/// Tokenizes a single line (without its line end).
pub fn tokenize(line: &str) -> Result<Vec<Token<'_>>, LexError> {
    let mut result = Ok(Vec::new());
    for_each_line(line, |l| {
        result = l.tokens;
        false
    });
    result
}

/// Whether any line of `text` ends in CRLF, a file legacy piranha misread.
pub(crate) fn has_crlf(text: &str) -> bool {
    text.contains("\r\n")
}

/// Physical line numbers and texts, for tools that need the raw lines.
pub fn lines(text: &str) -> Vec<(u32, &str)> {
    let mut out = Vec::new();
    for_each_line(text, |l| {
        out.push((l.number, l.text));
        true
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<(&str, Quote)> {
        tokenize(line)
            .unwrap()
            .into_iter()
            .map(|t| (t.text, t.quote))
            .collect()
    }

    #[test]
    fn physical_lines_end_at_lf_crlf_and_cr() {
        let lines: Vec<_> = physical_lines(b"a\nbb\r\nc\rd").collect();
        assert_eq!(
            lines,
            [(1, 0..1, 1), (2, 2..4, 2), (3, 6..7, 1), (4, 8..9, 0)]
        );
        let count = |t: &str| {
            let mut n = 0;
            for_each_line(t, |_| {
                n += 1;
                true
            });
            n
        };
        for t in ["a\nbb\r\nc\rd", "x\n\n\ry\r\n"] {
            assert_eq!(physical_lines(t.as_bytes()).count(), count(t), "{t:?}");
        }
    }

    #[test]
    fn bare_tokens_split_on_blanks() {
        assert_eq!(
            texts("  primary =\t1.2.3.4  "),
            vec![
                ("primary", Quote::None),
                ("=", Quote::None),
                ("1.2.3.4", Quote::None)
            ]
        );
    }

    #[test]
    fn equals_glued_to_keyword_is_one_token() {
        assert_eq!(
            texts("primary=1.2.3.4"),
            vec![("primary=1.2.3.4", Quote::None)]
        );
    }

    #[test]
    fn comments_and_blank_lines_have_no_tokens() {
        assert!(texts("   # a comment = 1").is_empty());
        assert!(texts("").is_empty());
        assert!(texts(" \t ").is_empty());
    }

    #[test]
    fn trailing_hash_is_not_a_comment() {
        assert_eq!(texts("port = 80 # web").len(), 5);
    }

    #[test]
    fn quoted_tokens_keep_blanks_and_drop_quotes() {
        assert_eq!(
            texts(r#"send = "GET / HTTP/1.0\r\n\r\n""#)[2],
            (r"GET / HTTP/1.0\r\n\r\n", Quote::Double)
        );
        assert_eq!(texts("expect = 'a b'")[2], ("a b", Quote::Single));
    }

    #[test]
    fn quoted_value_followed_by_blanks_is_fine() {
        // Legacy defect 7.1-2: this was "quotation mismatch".
        assert_eq!(texts("expect = \"HTTP\"   ")[2], ("HTTP", Quote::Double));
    }

    #[test]
    fn inner_quote_not_followed_by_blank_is_content() {
        assert_eq!(texts(r#"x = "a\"b""#)[2], (r#"a\"b"#, Quote::Double));
    }

    #[test]
    fn unterminated_quote_reports_its_column() {
        assert_eq!(tokenize("send = \"GET /"), Err(LexError { column: 8 }));
        assert_eq!(tokenize("send = 'abc"), Err(LexError { column: 8 }));
    }

    #[test]
    fn columns_count_characters() {
        let toks = tokenize("\tport = 80").unwrap();
        assert_eq!(toks[0].column, 2);
        assert_eq!(toks[2].column, 9);
    }

    #[test]
    fn line_endings_of_every_style_split_lines() {
        assert_eq!(
            lines("a\r\nb\nc\rd"),
            vec![(1, "a"), (2, "b"), (3, "c"), (4, "d")]
        );
        assert!(has_crlf("a\r\nb"));
        assert!(!has_crlf("a\rb\n"));
    }

    #[test]
    fn empty_lines_are_counted() {
        assert_eq!(lines("\n\nx\n"), vec![(1, ""), (2, ""), (3, "x")]);
        assert_eq!(lines("x"), vec![(1, "x")]);
        assert_eq!(lines("x\n\n"), vec![(1, "x"), (2, "")]);
    }

    #[test]
    fn chunk_boundaries_do_not_change_lines() {
        // Lines longer than a chunk and line ends on both sides of a boundary, every style.
        let mut text = String::new();
        let mut expected = Vec::new();
        for i in 0..20_000u32 {
            let line = format!("key{i} = \"v {i}\"");
            let eol = ["\n", "\r\n", "\r"][(i % 3) as usize];
            text.push_str(&line);
            text.push_str(eol);
            expected.push((i + 1, line));
        }
        let long = "x".repeat(3 * CHUNK_BYTES);
        text.push_str(&long);
        expected.push((20_001, long));
        let got: Vec<(u32, String)> = lines(&text)
            .into_iter()
            .map(|(n, l)| (n, l.to_string()))
            .collect();
        assert_eq!(got, expected);
    }

    /// Every line of `text` as (number, text, tokens), lexed by `lex`.
    fn collected(
        text: &str,
        lex: impl Fn(&str, &mut dyn FnMut(Line) -> bool),
    ) -> Vec<(u32, String, Result<Vec<String>, LexError>)> {
        let mut out = Vec::new();
        lex(text, &mut |l| {
            let tokens = l
                .tokens
                .map(|t| t.iter().map(|t| t.text.to_string()).collect());
            out.push((l.number, l.text.to_string(), tokens));
            true
        });
        out
    }

    #[test]
    fn lexer_threads_deliver_what_one_thread_does_in_order() {
        let mut text = String::new();
        for i in 0..30_000u32 {
            match i % 4 {
                0 => text.push_str(&format!("virtual v{i} {{\n")),
                1 => text.push_str(&format!("  send = \"GET /{i} HTTP/1.0\"\r\n")),
                2 => text.push_str(&format!("  # comment {i}\r")),
                _ => text.push_str(&format!("  expect = 'open {i}\n")),
            }
        }
        assert!(text.len() > 8 * CHUNK_BYTES);
        let here = collected(&text, |t, f| lex_here(t, f));
        assert_eq!(here.len(), 30_000);
        for lexers in [2, 3, 4] {
            let threads = collected(&text, |t, f| lex_on_threads(t, lexers, f));
            assert!(threads == here, "{lexers} lexers");
        }
    }

    #[test]
    fn lexer_threads_stop_when_asked() {
        let text = "key = value\n".repeat(4 * CHUNK_BYTES / 12);
        let mut seen = 0;
        lex_on_threads(&text, 2, |l| {
            seen += 1;
            l.number < 7_000
        });
        assert_eq!(seen, 7_000);
    }

    #[test]
    fn line_tokens_come_from_the_right_line() {
        let mut seen = Vec::new();
        for_each_line("a = 1\n  # c\nb = \"x y\"\r\nc = 'q", |l| {
            seen.push((
                l.number,
                l.tokens
                    .map(|t| t.iter().map(|t| t.text).collect::<Vec<_>>()),
            ));
            true
        });
        assert_eq!(seen[0], (1, Ok(vec!["a", "=", "1"])));
        assert_eq!(seen[1], (2, Ok(vec![])));
        assert_eq!(seen[2], (3, Ok(vec!["b", "=", "x y"])));
        assert_eq!(seen[3], (4, Err(LexError { column: 5 })));
    }
}
