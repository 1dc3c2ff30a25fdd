//! The views of a recorded pair of answers, compared with what the views gave for them
//! before the status schema became typed (issue 26): a renamed or retyped field shows
//! here as a changed page, text or metric. `UPDATE_RECORDED=1` writes the expected files
//! afresh (only when a view is meant to change).

use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn answer(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data(name)).unwrap()).unwrap()
}

fn check(name: &str, got: &str) {
    let path = data(name);
    if std::env::var_os("UPDATE_RECORDED").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert!(
        want == got,
        "{name} changed:\n--- want\n{want}\n--- got\n{got}"
    );
}

#[test]
fn a_recorded_answer_renders_as_it_did() {
    let p = status_view::parse_answer(answer("pulse-answer.json"));
    let l = status_view::parse_answer(answer("lvsd-answer.json"));
    check("recorded.txt", &status_view::text::render(&p, &l));
    check("recorded.html", &status_view::page::render(&p, &l, 5));
    check("recorded.prom", &status_view::metrics::render(&p, &l));
    check(
        "recorded.json",
        &format!("{:#}\n", status_view::json(&p, &l)),
    );
    let gone: status_view::Answer<_> = Err("/run/pulse.sock: gone".to_string());
    check(
        "recorded-lvsd-alone.txt",
        &status_view::text::render(&gone, &l),
    );
}
