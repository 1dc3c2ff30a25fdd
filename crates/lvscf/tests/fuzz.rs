//! Fuzzing the parser with proptest, bounded so it runs in CI: arbitrary bytes, and
//! mutations of valid files. The parser must never panic or hang; whatever it accepts
//! must validate and survive a rewrite.
//!
//! More cases: `LVSCF_FUZZ_CASES=200000 cargo test -p lvscf --release --test fuzz`.

use std::time::{Duration, Instant};

use lvscf::*;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("LVSCF_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

const SEEDS: &[&str] = &[
    include_str!("data/reference-1.9.cf"),
    include_str!("../../../lvs.cf.example"),
];

/// A hang guard, not a speed test: inputs here are at most a few KiB and parse in
/// microseconds, so a second means a loop that does not end.
const HANG: Duration = Duration::from_secs(5);

fn opts() -> ParseOptions {
    ParseOptions {
        resolver: value::no_resolver,
    }
}

fn exercise(bytes: &[u8]) -> Result<(), TestCaseError> {
    let start = Instant::now();
    let result = parse_bytes(bytes, "fuzz.cf", &opts());
    prop_assert!(start.elapsed() < HANG, "parse took {:?}", start.elapsed());
    match result {
        Ok(parsed) => {
            // Accepted input must validate without panicking and survive a rewrite.
            let _ = validate::validate(&parsed.config, "fuzz.cf");
            let written = write_config(&parsed.config);
            let again = parse_str(&written, "rewrite.cf", &opts()).map_err(|f| {
                TestCaseError::fail(format!("rewrite does not parse: {f}\n{written}"))
            })?;
            prop_assert!(
                again.config.same_settings(&parsed.config),
                "rewrite changed the model:\n{}",
                written
            );
            let _ = report::summary(&parsed.config);
        }
        Err(failure) => {
            // Every failure names a line that exists (or 0 for whole-file errors).
            let lines = lexer::lines(&String::from_utf8_lossy(bytes)).len() as u32;
            for e in failure.errors() {
                prop_assert!(e.line <= lines.max(1), "line {} of {}", e.line, lines);
                prop_assert!(!e.message.is_empty());
            }
        }
    }
    Ok(())
}

/// A valid file with some lines cut, duplicated, swapped or spliced with noise.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let noise = prop_oneof![
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just(" = ".to_string()),
        Just("\r".to_string()),
        Just("\r\n".to_string()),
        Just("#".to_string()),
        Just("\t".to_string()),
        Just("0x".to_string()),
        Just("::".to_string()),
        "[ -~]{0,12}",
    ];
    (
        proptest::sample::select(SEEDS.to_vec()),
        proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, noise), 1..8),
    )
        .prop_map(|(seed, edits)| {
            let mut lines: Vec<String> = seed.lines().map(String::from).collect();
            for (idx, op, noise) in edits {
                if lines.is_empty() {
                    break;
                }
                let i = idx.index(lines.len());
                match op {
                    0 => {
                        lines.remove(i);
                    }
                    1 => {
                        let l = lines[i].clone();
                        lines.insert(i, l);
                    }
                    2 => {
                        let at = idx.index(lines[i].len() + 1);
                        let at = (0..=at)
                            .rev()
                            .find(|&k| lines[i].is_char_boundary(k))
                            .unwrap_or(0);
                        lines[i].insert_str(at, &noise);
                    }
                    _ => {
                        let j = (i + 1) % lines.len();
                        lines.swap(i, j);
                    }
                }
            }
            lines.join("\n").into_bytes()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes)?;
    }

    #[test]
    fn lvs_cf_shaped_noise_never_panics(
        text in proptest::collection::vec(
            prop_oneof![
                Just("virtual v {\n"), Just("server s {\n"), Just("}\n"), Just("failover f {\n"),
                Just("active = 1\n"), Just("address = 10.0.0.1 eth0:1\n"), Just("port = http\n"),
                Just("send = \"a b\"  \n"), Just("expect = '\n"), Just("weight = 010\n"),
                Just("keepalive = 0.25\n"), Just("dirs = [ a ]\n"), Just("primary = ::1\n"),
                Just("\r\n"), Just("\r"), Just("# x\n"), Just(" = \n"), Just("sorry_server = 1.2.3.4 80\n"),
            ],
            0..64,
        )
    ) {
        exercise(text.concat().as_bytes())?;
    }

    #[test]
    fn mutated_valid_files_never_panic(bytes in mutated()) {
        exercise(&bytes)?;
    }
}

#[test]
fn pathological_inputs_are_handled() {
    let long_line = "x".repeat(1 << 20);
    let many_quotes = "\"".repeat(100_000);
    let deep = "virtual v {\n".repeat(10_000);
    let blanks = " \t".repeat(100_000);
    let nul = "\0\0\0 = \0\n";
    for input in [
        long_line.as_str(),
        many_quotes.as_str(),
        deep.as_str(),
        blanks.as_str(),
        nul,
    ] {
        let start = Instant::now();
        let _ = parse_str(input, "p.cf", &opts());
        assert!(start.elapsed() < HANG);
    }
}
