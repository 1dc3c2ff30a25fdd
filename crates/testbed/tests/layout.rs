//! The workspace's shape (docs/architecture.md, "Where a change goes"): a daemon's
//! `main.rs` is its option table and a few lines of start-up (at most 150 lines), and no
//! function outside tests is longer than 80 lines, so that each can be read at once.

use std::path::{Path, PathBuf};

const MAX_FUNCTION: usize = 80;
const MAX_DAEMON_MAIN: usize = 150;
const DAEMONS: [&str; 4] = ["lvsd", "pulse", "nanny", "fos"];

fn crates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Rust files of the crates' sources and examples (tests are left out).
fn sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for c in std::fs::read_dir(crates()).unwrap().flatten() {
        for dir in ["src", "examples"] {
            walk(&c.path().join(dir), &mut files);
        }
    }
    files
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

/// Each function's name, first line and length in lines, up to the file's unit tests.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.starts_with("#[cfg(test)]"))
        .unwrap_or(lines.len());
    let mut found = Vec::new();
    for (i, line) in lines[..end].iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let signature = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "const fn ",
            "pub const fn ",
        ]
        .iter()
        .find_map(|p| trimmed.strip_prefix(p));
        let Some(rest) = signature.filter(|_| !line.trim_end().ends_with(';')) else {
            continue;
        };
        let close = format!("{indent}}}");
        let Some(len) = lines[i..end].iter().position(|l| l.trim_end() == close) else {
            continue;
        };
        let name = rest.split(['(', '<']).next().unwrap_or(rest).to_string();
        found.push((name, i + 1, len + 1));
    }
    found
}

#[test]
fn no_function_outside_tests_is_longer_than_80_lines() {
    let mut long = Vec::new();
    for path in sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        for (name, line, len) in functions(&text) {
            if len > MAX_FUNCTION {
                long.push(format!("{}:{line} {name}: {len} lines", path.display()));
            }
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn every_daemon_main_is_short() {
    for d in DAEMONS {
        let path = crates().join(d).join("src/main.rs");
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(
            lines <= MAX_DAEMON_MAIN,
            "{}: {lines} lines",
            path.display()
        );
    }
}

#[test]
fn the_length_of_a_function_is_counted_to_its_closing_brace() {
    let text = "fn a() {\n    x();\n}\n\nimpl T {\n    pub fn b(&self) {\n        if c {\n        }\n    }\n}\n";
    assert_eq!(
        functions(text),
        [("a".to_string(), 1, 3), ("b".to_string(), 6, 4)]
    );
}
