//! The authoring commands through the real binary: `lab lint`, `lab schema`, `lab new`,
//! `completions`, `man`, and `lab NN` still showing a README.

mod common;

use common::{labgrade, root, run};

/// What lint must say about each mistake planted in tests/fixtures/lint/broken/lab.toml.
const PLANTED: &[&str] = &[
    "criterion \"unserved\" has no check",
    "{{invoice}} is used before anything captures it: check \"create-invoice\"",
    "{{custmer}} is not captured by any earlier check or step; expected one of: customer, uuid; did you mean {{customer}}?",
    "names JSON Schema file \"schemas/missing.json\", which does not exist",
    "unknown check kind \"htp\"; expected one of: http,",
    "did you mean \"http\"?",
    "unknown field `requets`, expected one of `request`, `expect`, `capture`; did you mean `request`?",
    "unknown field `critrion`",
    "did you mean `criterion`?",
    "check \"wrong-criterion\" names criterion \"eror\", which no [[criterion]] defines; expected one of: errors, data, unserved; did you mean \"errors\"?",
    "id \"create-customer\" is used twice",
    "check \"weightless\" has weight 0; expected a positive number",
    "check \"negative\" has weight -1; expected a positive number",
    "names JSON Schema file \"schemas/not-json.json\", which is not JSON",
    "names JSON Schema file \"schemas/not-a-schema.json\", which is not a valid JSON Schema",
    "needed_by names check \"get-invoce\", which this lab does not define",
    "[[include]] names lab \"01-helpr\", which this labs folder does not have",
    "lab \"01-helper\" has no check \"healthz-okk\"",
    "readiness names \"01-helper/healthz\", which no [[include]] of this lab brings in",
    "readiness names check \"nope\", which this lab does not define",
];

#[test]
fn lint_reports_every_planted_mistake_at_once() {
    let dir = root().join("tests/fixtures/lint");
    let r = run(labgrade().args(["lab", "lint"]).arg(dir.join("broken")));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let got = r.stdout.replace(&dir.display().to_string(), "$DIR");
    for p in PLANTED {
        assert!(got.contains(p), "lint did not report {p:?}:\n{got}");
    }
    let expected_file = root().join("tests/fixtures/lint/broken.expected");
    if std::env::var_os("LABGRADE_BLESS").is_some() {
        std::fs::write(&expected_file, &got).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_file).unwrap();
    assert_eq!(got, expected, "lint output changed; rerun with LABGRADE_BLESS=1 if that is intended");
    assert!(got.ends_with(&format!("{} errors in 1 file\n", PLANTED.len() - 2)), "{got}");
}

#[test]
fn every_error_is_located_with_its_source_line_and_a_caret() {
    let dir = root().join("tests/fixtures/lint/broken");
    let r = run(labgrade().args(["lab", "lint"]).arg(dir.join("lab.toml")));
    assert_eq!(r.code, 2);
    let file = dir.join("lab.toml").display().to_string();
    let blocks: Vec<&str> = r.stdout.split("\n\n").filter(|b| b.starts_with(&file)).collect();
    assert_eq!(blocks.len(), PLANTED.len() - 2, "{}", r.stdout);
    for b in blocks {
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines.len(), 4, "{b}");
        assert!(lines[3].trim_start().starts_with("| ") && lines[3].contains('^'), "{b}");
    }
}

#[test]
fn the_shipped_labs_lint_clean() {
    let r = run(labgrade().args(["lab", "lint"]).arg(root().join("labs")));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.ends_with("checked: no errors\n"), "{}", r.stdout);
    let r = run(labgrade().args(["lab", "lint"]).arg(root().join("labs/02-http-contracts/lab.toml")));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn lint_of_something_else_is_a_usage_error() {
    let r = run(labgrade().args(["lab", "lint"]).arg(root().join("src")));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("neither track.toml nor lab.toml"), "{}", r.stderr);
}

#[test]
fn lab_still_shows_a_readme_and_needs_a_lab() {
    let r = run(labgrade().args(["lab", "02"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let readme = std::fs::read_to_string(root().join("labs/02-http-contracts/README.md")).unwrap();
    assert_eq!(r.stdout, readme);
    let r = run(labgrade().args(["lab", "02", "--readme"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(labgrade().arg("lab"));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("<LAB>"), "{}", r.stderr);
}

#[test]
fn schemas_are_printed_as_json() {
    for (kind, title) in [("lab", "lab.toml"), ("track", "track.toml"), ("config", "labgrade.toml")] {
        let r = run(labgrade().args(["lab", "schema", "--kind", kind]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v = r.json();
        assert_eq!(v["title"], title);
        assert_eq!(v["$schema"], "http://json-schema.org/draft-07/schema#");
    }
    let r = run(labgrade().args(["lab", "schema"]));
    assert!(r.json()["definitions"]["Check"]["oneOf"].is_array());
}

#[test]
fn a_new_lab_passes_lint() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(labgrade().args(["lab", "new", "11-rate-limits", "--dir"]).arg(tmp.path()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lab = tmp.path().join("11-rate-limits");
    for f in ["lab.toml", "README.md", "schemas/health.json", "schemas/settings.json"] {
        assert!(lab.join(f).is_file(), "{f} missing");
    }
    let toml = std::fs::read_to_string(lab.join("lab.toml")).unwrap();
    for kind in ["http", "doc", "artifact", "startup", "command"] {
        assert!(toml.contains(&format!("kind = \"{kind}\"")), "no {kind} check");
    }
    let r = run(labgrade().args(["lab", "lint"]).arg(&lab));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = run(labgrade().args(["lab", "new", "11-rate-limits", "--dir"]).arg(tmp.path()));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("exists"), "{}", r.stderr);
}

#[test]
fn completions_and_man_page() {
    let r = run(labgrade().args(["completions", "bash"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("_labgrade()") && r.stdout.contains("lint"), "{}", r.stdout);
    let r = run(labgrade().args(["completions", "zsh"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("#compdef labgrade"));
    let r = run(labgrade().arg("man"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(".ie") || r.stdout.contains(".TH labgrade"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
}
