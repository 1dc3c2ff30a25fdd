//! `lvs.cf.example` (top level) is valid, warning-free, and shows every keyword family;
//! `docs/lvs.cf.5` documents every keyword.

use std::collections::BTreeSet;

use lvscf::parser::{GLOBAL_KEYWORDS, SERVER_KEYWORDS, VIRTUAL_KEYWORDS};
use lvscf::*;

const EXAMPLE: &str = include_str!("../../../lvs.cf.example");
const MAN_PAGE: &str = include_str!("../../../docs/lvs.cf.5");

/// Keywords used in the example: the first word of each non-comment line.
fn keywords_used() -> BTreeSet<String> {
    EXAMPLE
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

#[test]
fn example_is_valid_and_warning_free() {
    let report = report::check_file(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../lvs.cf.example")),
        &ParseOptions::default(),
    );
    assert!(report.ok, "{}", report.to_text());
    // Programs the example names (nanny, the active/inactive commands) need not exist on
    // the machine running the tests; every other diagnostic would be the example's fault.
    let about_this_machine =
        |m: &str| m.ends_with("does not exist") || m.ends_with("is not found in PATH");
    assert!(
        report
            .diagnostics
            .iter()
            .all(|d| about_this_machine(&d.message)),
        "{}",
        report.to_text()
    );
    let c = report.config.unwrap();
    assert!(c.effective_backup_active(), "a two-director example");
    assert_eq!(c.network, Network::Nat);
    assert!(c.nat_router.is_some());
}

#[test]
fn example_covers_every_keyword_family() {
    let used = keywords_used();
    // `master` and `dirs` are parsed but unused by every daemon; the example leaves them
    // out rather than teach them.
    let skipped = ["master", "dirs"];
    for kw in GLOBAL_KEYWORDS
        .iter()
        .chain(VIRTUAL_KEYWORDS)
        .chain(SERVER_KEYWORDS)
    {
        if skipped.contains(kw) {
            continue;
        }
        assert!(used.contains(*kw), "lvs.cf.example does not show `{kw}`");
    }
    for block in ["virtual", "failover", "server", "}"] {
        assert!(used.contains(block), "lvs.cf.example has no `{block}`");
    }
}

#[test]
fn man_page_documents_every_keyword() {
    for kw in GLOBAL_KEYWORDS
        .iter()
        .chain(VIRTUAL_KEYWORDS)
        .chain(SERVER_KEYWORDS)
    {
        // Keywords are set in bold on their own .TP entry.
        let entry = format!(".B {kw}");
        assert!(
            MAN_PAGE
                .lines()
                .any(|l| l.trim_start() == entry || l.starts_with(&format!("{entry} "))),
            "docs/lvs.cf.5 has no `.B {kw}` entry"
        );
    }
}
