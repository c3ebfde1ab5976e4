//! JSON Schema files a lab's checks name (`expect.json_schema` of `http` and `job` checks,
//! `schema` of `artifact` checks, `error_schema` and each operation's `schema` of `probe`
//! checks), relative to the lab folder: they must exist, be JSON, and
//! be a JSON Schema the grader can compile.

use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// The schema files one check names: the span of each value and the path it gives.
pub fn references(kind: Option<&str>, table: &DeTable<'_>) -> Vec<(Range<usize>, String)> {
    let mut out = Vec::new();
    for (k, v) in table {
        let key: &str = k.get_ref().as_ref();
        if key == "schema"
            && kind == Some("artifact")
            && let DeValue::String(s) = v.get_ref()
        {
            out.push((v.span(), s.to_string()));
        }
        walk(key, v, kind == Some("probe"), &mut out);
    }
    out
}

fn walk(key: &str, v: &toml::Spanned<DeValue<'_>>, probe: bool, out: &mut Vec<(Range<usize>, String)>) {
    let named = key == "json_schema" || (probe && (key == "schema" || key == "error_schema"));
    match v.get_ref() {
        DeValue::String(s) if named => out.push((v.span(), s.to_string())),
        DeValue::Table(t) => {
            for (k, x) in t {
                walk(k.get_ref().as_ref(), x, probe, out);
            }
        }
        DeValue::Array(a) => a.iter().for_each(|x| walk(key, x, probe, out)),
        _ => {}
    }
}

/// Why a schema file's text cannot be used (Ok: it can).
pub fn check_text(text: &str) -> Result<(), String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("is not JSON ({e})"))?;
    jsonschema::validator_for(&value).map(|_| ()).map_err(|e| format!("is not a valid JSON Schema ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_json_schema_anywhere_and_artifact_schema() {
        let src = r#"expect = { status = 404, json_schema = "schemas/problem.json" }
schema = "not-mine.json"
"#;
        let t = DeTable::parse(src).unwrap();
        let r = references(Some("http"), t.get_ref());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].1, "schemas/problem.json");
        assert_eq!(&src[r[0].0.clone()], "\"schemas/problem.json\"");
        let r = references(Some("artifact"), t.get_ref());
        assert_eq!(r.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(), ["schemas/problem.json", "not-mine.json"]);
        let probe = DeTable::parse(
            "error_schema = \"schemas/problem.json\"\noperations = [{ operation = \"POST /x\", schema = \"schemas/x.json\" }]\n",
        )
        .unwrap();
        let r = references(Some("probe"), probe.get_ref());
        assert_eq!(r.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(), ["schemas/problem.json", "schemas/x.json"]);
    }

    #[test]
    fn judges_schema_text() {
        assert!(check_text(r#"{"type": "object", "required": ["status"]}"#).is_ok());
        assert!(check_text("true").is_ok());
        let e = check_text("{\"type\": ").unwrap_err();
        assert!(e.starts_with("is not JSON (EOF while parsing"), "{e}");
        let e = check_text(r#"{"type": "strnig"}"#).unwrap_err();
        assert!(e.starts_with("is not a valid JSON Schema"), "{e}");
        let e = check_text(r#"{"minimum": "five"}"#).unwrap_err();
        assert!(e.starts_with("is not a valid JSON Schema"), "{e}");
    }
}
