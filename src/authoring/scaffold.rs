//! `labgrade lab new NAME`: a lab folder to start from — a README skeleton and a lab.toml
//! with a rubric and one commented check of each common kind, that passes `lab lint`.

use std::path::{Path, PathBuf};

const LAB_TOML: &str = r##"# Lab spec: rubric criteria and the checks that evidence them. AUTHORING.md explains every
# key; `labgrade lab lint {{dir}}` reports every mistake at once. Editor completion: write
# the schema once (`labgrade lab schema > lab.schema.json` in the labs folder) and put
# `#:schema ../lab.schema.json` as the first line of this file.

id = "{{id}}"                # equal to the folder name
title = "{{title}}"
# token = true               # send the grader's bearer token with every request (labs with auth)

# --- The rubric: one [[criterion]] per line of the lesson's rubric, word for word ---------

[[criterion]]
id = "contract"
text = "The service honours the documented HTTP contract."
weight = 1                   # optional, default 1: its share of the lab's score

[[criterion]]
id = "operability"
text = "The service starts safely, is documented, and its own tests pass."

# --- http: send one request; judge status, headers, JSON body, JSON Schema ----------------

[[check]]
id = "health-ok"
kind = "http"
criterion = "contract"       # an id from [[criterion]]
blocking = true              # optional: the lab is not passed while this fails (security, data, correctness, the headline)
weight = 1                   # optional, default 1; a positive number
hint = "GET /healthz must answer 200 with {\"status\": \"ok\"} as soon as the service listens."
doc = "README.md#the-contract"
request = { method = "GET", path = "/healthz" }
expect = { status = 200, headers = { content-type = "~^application/json" }, json = { status = "ok" }, json_schema = "schemas/health.json" }
# capture = { item = "/id" } # later checks may then use {{item}} in their requests

# --- doc: a Markdown file of the learner's, with required sections ------------------------

[[check]]
id = "design-notes"
kind = "doc"
criterion = "operability"
hint = "Write DESIGN.md with a 'Decisions' section: what you chose, and why, in your own words."
doc = "README.md#designmd"
file = "DESIGN.md"           # path in the learner's repo
# artifact = "design"        # an [artifacts] entry of labgrade.toml that may move the file
sections = [{ heading = "Decisions", min_words = 40 }]

# --- artifact: a file of the learner's that parses and satisfies a lab schema -------------

[[check]]
id = "settings-file"
kind = "artifact"
criterion = "operability"
hint = "settings.json must be a JSON object with a numeric \"port\"."
doc = "README.md#settingsjson"
file = "settings.json"
format = "json"              # openapi, yaml, json, toml, slo or alert_rules
schema = "schemas/settings.json"

# --- startup: start the service with its environment changed; judge how it fails ---------

[[check]]
id = "refuses-without-port"
kind = "startup"
criterion = "operability"
hint = "Check PORT before you listen: say it is missing and exit non-zero."
doc = "README.md#startup"
env_remove = ["PORT"]        # or env = { PORT = "abc" }
expect = { within_ms = 5000, output = "PORT" }

# --- command: the learner's own test command ([service] test in labgrade.toml) -----------

[[check]]
id = "own-tests"
kind = "command"
criterion = "operability"
hint = "Your [service] test command (e.g. npm test) must pass."
doc = "README.md#your-own-tests"
timeout_secs = 180
"##;

const README: &str = r#"# {{title}}

<!-- What learners read: the lesson, the exact contract, how it is graded. Each check's
     `doc` points at one of the headings below (README.md#the-contract). -->

## What you build

TODO: one paragraph on what the learner's service gains in this lab, and why.

## The contract

`GET /healthz` answers `200` with `{"status": "ok"}`.

## DESIGN.md

A `Decisions` section of at least 40 words.

## settings.json

A JSON object with a numeric `port`.

## Startup

Without `PORT` the service says so and exits non-zero.

## Your own tests

`[service] test` in `labgrade.toml` runs them; they must pass.

## How it is graded

`labgrade check {{id}}` — run it, read what fails, fix, run it again.
"#;

const HEALTH_SCHEMA: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["status"],
  "properties": { "status": { "const": "ok" } }
}
"#;

const SETTINGS_SCHEMA: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["port"],
  "properties": { "port": { "type": "integer", "minimum": 1, "maximum": 65535 } }
}
"#;

/// "05-rate-limits" → "Rate Limits".
pub fn title_of(name: &str) -> String {
    let slug = match name.split_once('-') {
        Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) && !rest.is_empty() => rest,
        _ => name,
    };
    slug.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why `name` cannot be a lab folder name, if it cannot.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("lab name {name:?}: expected lowercase letters, digits and dashes, e.g. \"10-capstone\""))
    }
}

/// The files of a new lab, relative to its folder.
pub fn files(name: &str, shown_dir: &str) -> Vec<(&'static str, String)> {
    let fill = |t: &str| t.replace("{{id}}", name).replace("{{title}}", &title_of(name)).replace("{{dir}}", shown_dir);
    vec![
        ("lab.toml", fill(LAB_TOML)),
        ("README.md", fill(README)),
        ("schemas/health.json", HEALTH_SCHEMA.to_string()),
        ("schemas/settings.json", SETTINGS_SCHEMA.to_string()),
    ]
}

/// Write `dir/name/`; refuses to touch a folder that exists.
pub fn write(dir: &Path, name: &str) -> Result<PathBuf, String> {
    check_name(name)?;
    let lab = dir.join(name);
    if lab.exists() {
        return Err(format!("{} exists; choose another name or remove it", lab.display()));
    }
    for (rel, text) in files(name, &lab.display().to_string()) {
        let path = lab.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(lab)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_names() {
        assert_eq!(title_of("05-rate-limits"), "Rate Limits");
        assert_eq!(title_of("capstone"), "Capstone");
        assert!(check_name("10-capstone").is_ok());
        assert!(check_name("Ten").is_err());
        assert!(check_name("../x").is_err());
        assert!(check_name("").is_err());
    }

    #[test]
    fn the_scaffold_passes_lint_and_its_schema() {
        let tmp = tempfile::tempdir().unwrap();
        let lab = write(tmp.path(), "11-new-thing").unwrap();
        let report = crate::lint::lint_path(&lab).unwrap();
        assert!(report.diagnostics.is_empty(), "{}", report.render());
        let text = std::fs::read_to_string(lab.join("lab.toml")).unwrap();
        let instance: serde_json::Value = toml::from_str(&text).unwrap();
        let schema = crate::authoring::schema::lab();
        assert!(jsonschema::validator_for(&schema).unwrap().is_valid(&instance));
        assert!(write(tmp.path(), "11-new-thing").unwrap_err().contains("exists"));
    }
}
