//! The legacy parser defects this project fixes (docs/differences.md, lvs.cf defects 1–3), each with the
//! behaviour that replaces it. Documented in docs/differences.md.

use lvscf::*;

const LF: &str = "primary = 1.2.3.4\nvirtual web {\n     active = 1\n     address = 10.0.0.1 eth0:1\n     expect = \"HTTP\"\n     server a {\n         address = 10.1.0.1\n         active = 1\n     }\n}\n";

fn parse(text: &str) -> Result<Parsed, ParseFailure> {
    parse_str(text, "lvs.cf", &ParseOptions::default())
}

#[test]
fn crlf_files_parse_like_lf_files_and_say_so() {
    // Legacy: only the first line of a CRLF file was read.
    let crlf = LF.replace('\n', "\r\n");
    let lf = parse(LF).unwrap();
    let dos = parse(&crlf).unwrap();
    assert!(dos.config.same_settings(&lf.config));
    assert_eq!(dos.config.virtuals[0].servers.len(), 1);
    assert!(dos.warnings.iter().any(|w| w.message.contains("CRLF")));
    assert!(!lf.warnings.iter().any(|w| w.message.contains("CRLF")));
}

#[test]
fn cr_only_files_parse_like_lf_files() {
    let cr = parse(&LF.replace('\n', "\r")).unwrap();
    assert!(cr.config.same_settings(&parse(LF).unwrap().config));
}

#[test]
fn a_stray_cr_ends_a_line_instead_of_swallowing_the_file() {
    let text = "primary = 1.2.3.4\rkeepalive = 3\ndeadtime = 9\n";
    let c = parse(text).unwrap().config;
    assert_eq!(c.keepalive.as_secs(), 3);
    assert_eq!(c.deadtime.as_secs(), 9);
}

#[test]
fn line_numbers_count_physical_lines_in_every_style() {
    for eol in ["\n", "\r\n", "\r"] {
        let text = ["primary = 1.2.3.4", "", "# c", "bogus = 1"].join(eol);
        let f = parse(&text).unwrap_err();
        assert_eq!(f.first_error().line, 4, "{eol:?}");
    }
}

#[test]
fn quoted_value_followed_by_blanks_is_accepted() {
    // Legacy: "quotation mismatch" for a quoted value without blanks plus trailing blanks.
    let c = parse("virtual v {\n expect = \"HTTP\"   \n send = 'x'\t\n}\n")
        .unwrap()
        .config;
    assert_eq!(c.virtuals[0].expect.as_ref().unwrap().text, "HTTP");
    assert_eq!(c.virtuals[0].send.as_ref().unwrap().text, "x");
}

#[test]
fn unterminated_block_at_end_of_file_is_an_error() {
    // Legacy silently accepted it.
    let f = parse("primary = 1.2.3.4\nvirtual web {\n active = 1\n").unwrap_err();
    let e = f.first_error();
    assert_eq!((e.line, e.message.as_str()), (2, "unexpected end of file"));
    assert!(e.hint.contains("virtual web"), "{}", e.hint);
    let f = parse("virtual web {\n server a {\n").unwrap_err();
    assert_eq!(f.first_error().line, 2);
    assert!(f.first_error().hint.contains("server a"));
}

#[test]
fn octal_numbers_keep_their_legacy_value_with_a_warning() {
    let p = parse("virtual v {\n timeout = 010\n}\n").unwrap();
    assert_eq!(p.config.virtuals[0].timeout, 8);
    let w = p
        .warnings
        .iter()
        .find(|w| w.message.contains("octal"))
        .unwrap();
    assert_eq!((w.line, w.column), (2, 12));
    let p = parse("keepalive = 010\n").unwrap();
    assert_eq!(p.config.keepalive.as_secs(), 8);
    assert!(p.warnings.iter().any(|w| w.message.contains("octal")));
    // Every integer-valued setting warns, ports included.
    let p = parse("heartbeat_port = 01033\nvirtual v {\n port = 0443\n sorry_server = 1.2.3.4 010\n server s {\n port = 010\n }\n}\n").unwrap();
    let v = &p.config.virtuals[0];
    assert_eq!((p.config.heartbeat_port, v.port), (539, 0o443));
    assert_eq!(
        (v.sorry_server.as_ref().unwrap().port, v.servers[0].port),
        (Some(8), 8)
    );
    let lines: Vec<u32> = p
        .warnings
        .iter()
        .filter(|w| w.message.contains("octal"))
        .map(|w| w.line)
        .collect();
    assert_eq!(lines, [1, 3, 4, 6]);
    // Plain decimal and hex give no warning.
    assert!(parse("keepalive = 10\nserial_no = 0x10\n")
        .unwrap()
        .warnings
        .is_empty());
}

#[test]
fn trailing_comments_stay_an_error() {
    // Decision (docs/differences.md): kept rejected so a file stays valid for legacy pulse.
    let f = parse("keepalive = 2 # seconds\n").unwrap_err();
    assert_eq!(f.first_error().message, "unexpected arguments");
    assert_eq!(f.first_error().column, 15);
}

#[test]
fn invalid_pmask_is_ignored_with_a_warning_as_legacy_did() {
    let p = parse("virtual v {\n persistent = 60\n pmask = bogus\n}\n").unwrap();
    assert_eq!(p.config.virtuals[0].pmask, None);
    assert!(p
        .warnings
        .iter()
        .any(|w| w.line == 3 && w.message.contains("pmask")));
}

#[test]
fn non_utf8_bytes_in_a_value_are_an_error_at_their_line_and_never_replaced() {
    // In a comment (Latin-1 notes are common): no daemon reads it, so it is fine.
    let mut bytes = b"# caf\xe9\nprimary = 1.2.3.4\n".to_vec();
    let p = parse_bytes(&bytes, "lvs.cf", &ParseOptions::default()).unwrap();
    assert_eq!(p.config.primary.unwrap().addr.to_string(), "1.2.3.4");
    // In a value: an error naming the line and column, whatever else the line says.
    bytes.extend_from_slice(b"rsh_command = ss\xe9h\n");
    let f = parse_bytes(&bytes, "lvs.cf", &ParseOptions::default()).unwrap_err();
    assert_eq!(
        f.diagnostics[0].to_string(),
        "lvs.cf:3:17: error: bytes that are not UTF-8 (save the file as UTF-8 or ASCII; \
         legacy piranha took such bytes as they were, piranha-rs does not guess what they meant)"
    ); // Lines counted as the parser counts them, whatever the line ends (here CR only).
    let cr = b"# caf\xe9\rprimary = 1.2.3.4\rrsh_command = ss\xe9h\r";
    let f = parse_bytes(cr, "lvs.cf", &ParseOptions::default()).unwrap_err();
    assert_eq!((f.diagnostics[0].line, f.diagnostics[0].column), (3, 17));
}

#[test]
fn repeated_keywords_warn_and_the_last_wins() {
    let p = parse(
        "virtual v {\n port = 80\n port = 81\n server s {\n weight = 1\n weight = 2\n }\n}\n",
    )
    .unwrap();
    let v = &p.config.virtuals[0];
    assert_eq!((v.port, v.servers[0].weight), (81, 2));
    assert_eq!(
        p.warnings
            .iter()
            .filter(|w| w.message.contains("more than once"))
            .count(),
        2
    );
}

#[test]
fn out_of_range_values_are_rejected_where_legacy_truncated() {
    for text in [
        "virtual v {\n port = 70000\n}\n",
        "virtual v {\n server s {\n weight = -1\n }\n}\n",
        "virtual v {\n timeout = -5\n}\n",
        "heartbeat_port = 65536\n",
        "tcp_timeout = -1\n",
    ] {
        let f = parse(text).unwrap_err();
        assert_eq!(f.first_error().message, "invalid argument", "{text}");
    }
}

#[test]
fn control_characters_in_a_file_are_shown_not_sent_to_the_terminal() {
    let text = "serial_no = 1\nprimary = 1.2.3.4\0x\nbackup = 10.0.0.\x1b[2J5\n";
    let f = parse_str(text, "lvs.cf", &ParseOptions::default()).unwrap_err();
    let shown: Vec<String> = f.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(
        shown.iter().any(|l| l.contains("1.2.3.4<NUL>x")),
        "{shown:?}"
    );
    assert!(
        shown.iter().all(|l| !l.chars().any(char::is_control)),
        "{shown:?}"
    );
    assert!(
        shown.iter().any(|l| l.contains("10.0.0.\\x1b[2J5")),
        "{shown:?}"
    );
}

#[test]
fn every_list_of_diagnostics_is_capped_with_a_count_of_the_rest() {
    let mut text = String::from("primary = 1.2.3.4\n");
    for i in 0..200 {
        text += &format!("bogus{i} = 1\nport = 80\n");
    }
    let f = parse_bytes(text.as_bytes(), "lvs.cf", &ParseOptions::default()).unwrap_err();
    let errors: Vec<&Diagnostic> = f.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 51, "50 shown and the count");
    assert_eq!(errors[50].message, "350 more errors not shown");
}

#[test]
fn files_that_are_not_regular_or_too_large_are_refused_without_hanging() {
    let dir = std::env::temp_dir().join(format!("lvscf-read-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("lvs.cf");
    let _ = std::fs::remove_file(&fifo);
    nix_mkfifo(&fifo);
    let start = std::time::Instant::now();
    for path in [
        fifo.as_path(),
        std::path::Path::new("/dev/zero"),
        dir.as_path(),
    ] {
        let f = parse_file(path, &ParseOptions::default()).unwrap_err();
        let hint = &f.diagnostics[0].hint;
        assert!(
            hint.ends_with("lvs.cf must be a regular file"),
            "{}: {hint}",
            path.display()
        );
    }
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "no wait for a writer"
    );
    let big = dir.join("big.cf");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(parser::MAX_FILE_SIZE + 1).unwrap();
    let f = parse_file(&big, &ParseOptions::default()).unwrap_err();
    assert_eq!(f.diagnostics[0].hint, "larger than the 16 MiB limit");
    let _ = std::fs::remove_dir_all(&dir);
}

fn nix_mkfifo(path: &std::path::Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn an_overlong_line_is_an_error_of_its_own_and_the_rest_is_still_read() {
    let long = "a".repeat(parser::MAX_LINE_BYTES + 1);
    let text = format!("primary = 1.2.3.4\r\nrsh_command = {long}\r\nkeepalive = x\n");
    let f = parse_str(&text, "lvs.cf", &ParseOptions::default()).unwrap_err();
    let shown: Vec<String> = f.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(
        shown[0].starts_with("lvs.cf:2: error: line of 65551 bytes, longer than 65536"),
        "{shown:?}"
    );
    assert!(
        shown.iter().any(|l| l.starts_with("lvs.cf:3:")),
        "line numbers kept: {shown:?}"
    );
    // A long token quoted in a message is cut.
    let text = format!("primary = {}\n", "b".repeat(5000));
    let f = parse_str(&text, "lvs.cf", &ParseOptions::default()).unwrap_err();
    let line = f.diagnostics[0].to_string();
    assert!(line.len() < 800 && line.contains("more bytes)"), "{line}");
}
