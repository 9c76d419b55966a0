//! `docs/THREAT-MODEL.md` names, for each threat, the tests that prove it is met: this
//! checks that every row names at least one, and that each named test exists in its file.
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;

/// The backquoted spans of a line, in order.
fn code_spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

/// Whether the file at `path`, holding `text`, defines the test `name`: a Rust `fn`, or
/// a Playwright test's title.
fn defines(path: &str, text: &str, name: &str) -> bool {
    if path.ends_with(".mjs") {
        text.contains(&format!("test(\"{name}\""))
    } else {
        text.contains(&format!("fn {name}(")) || text.contains(&format!("fn {name}<"))
    }
}

#[test]
fn every_threat_points_to_tests_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = std::fs::read_to_string(root.join("docs/THREAT-MODEL.md")).expect("the model");
    // The rows of the tables whose header has a "Proof" column.
    let mut rows = Vec::new();
    let mut in_proof_table = false;
    let mut previous_was_row = false;
    for line in model.lines() {
        let is_row = line.starts_with('|');
        if is_row && !previous_was_row {
            in_proof_table = line.contains("| Proof |");
        } else if is_row && in_proof_table && !line.starts_with("| ---") {
            rows.push(line);
        }
        previous_was_row = is_row;
    }
    let mut missing = Vec::new();
    let mut checked = 0;
    for row in rows {
        let mut file: Option<(String, String)> = None;
        let mut proofs = 0;
        for span in code_spans(row) {
            if span.ends_with(".rs") || span.ends_with(".mjs") {
                let text = std::fs::read_to_string(root.join(span))
                    .unwrap_or_else(|e| panic!("{span}: {e}"));
                file = Some((span.to_owned(), text));
            } else if let Some((path, text)) = &file {
                proofs += 1;
                if !defines(path, text, span) {
                    missing.push(format!("{path}: {span}"));
                }
            }
        }
        assert!(proofs > 0, "a row without a test: {row}");
        checked += proofs;
    }
    assert!(missing.is_empty(), "named but not found: {missing:#?}");
    assert!(checked > 30, "only {checked} tests named");
}
