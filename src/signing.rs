//! Signed reports: an HMAC-SHA256 over a lab's JSON report, so an instructor can tell a report
//! the grader wrote from one edited afterwards.
//!
//! The MAC covers [`canonical`]: the report without its top-level `"signature"` key, with
//! object keys sorted at every depth, serialized compactly. Whitespace and key order therefore
//! do not matter; any change of content (a score, an outcome, the grader version, the spec
//! hash, the learner) does. The key is a secret the instructor holds (in CI, a repository or
//! organisation secret exposed to the grader as [`KEY_ENV`]).

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// The environment variable holding the signing key (its bytes, as given).
pub const KEY_ENV: &str = "LABGRADE_SIGNING_KEY";

/// The `"algorithm"` a signature names.
pub const ALGORITHM: &str = "HMAC-SHA256";

/// The key from [`KEY_ENV`], if that is set and not empty.
pub fn key_from_env() -> Option<Vec<u8>> {
    std::env::var_os(KEY_ENV).filter(|k| !k.is_empty()).map(|k| k.into_encoded_bytes())
}

/// Why a report did not verify.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VerifyError {
    #[error("the report carries no signature (it was not graded with {KEY_ENV} set)")]
    Unsigned,
    #[error("the report's signature is malformed: {0}")]
    Malformed(String),
    #[error("the signature does not match: the report was modified after grading, or signed with another key")]
    Mismatch,
}

/// The bytes the MAC covers: `report` without its top-level `"signature"`, keys sorted
/// recursively, no whitespace. Numbers and strings are written as serde_json writes them.
pub fn canonical(report: &Value) -> String {
    String::from_utf8(canonical_bytes(report)).expect("serde_json writes UTF-8")
}

fn canonical_bytes(report: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    match report {
        Value::Object(map) => write_object(&mut out, map.iter().filter(|(k, _)| k.as_str() != "signature")),
        other => write_canonical(&mut out, other),
    }
    out
}

fn write_canonical(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Object(map) => write_object(out, map.iter()),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        // Scalars: serde_json's own compact form (strings escaped, numbers as it prints them).
        scalar => write_json(out, scalar),
    }
}

fn write_object<'a>(out: &mut Vec<u8>, entries: impl Iterator<Item = (&'a String, &'a Value)>) {
    let mut entries: Vec<_> = entries.collect();
    // Byte order of UTF-8 = code point order: the same on every platform.
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json(out, k);
        out.push(b':');
        write_canonical(out, v);
    }
    out.push(b'}');
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing a string or a scalar into a Vec cannot fail.
    serde_json::to_writer(out, v).expect("a JSON scalar serializes");
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length (long keys are hashed), so this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts a key of any length")
}

/// Sign one lab report (a JSON object): insert (or replace) its top-level
/// `"signature": {"algorithm": "HMAC-SHA256", "value": "<lowercase hex>"}`.
/// A value that is not an object is left as it is (and will verify as [`VerifyError::Unsigned`]
/// or malformed); use [`sign_document`] for a document that may be an array.
pub fn sign(report: &mut Value, key: &[u8]) {
    let Value::Object(_) = report else { return };
    let mut m = mac(key);
    m.update(&canonical_bytes(report));
    let value = to_hex(&m.finalize().into_bytes());
    if let Value::Object(map) = report {
        map.insert("signature".into(), serde_json::json!({ "algorithm": ALGORITHM, "value": value }));
    }
}

/// Check one lab report's signature with `key`, in constant time.
pub fn verify(report: &Value, key: &[u8]) -> Result<(), VerifyError> {
    let Value::Object(map) = report else {
        return Err(VerifyError::Malformed("a lab report must be a JSON object".into()));
    };
    let Some(sig) = map.get("signature") else { return Err(VerifyError::Unsigned) };
    let Value::Object(sig) = sig else {
        return Err(VerifyError::Malformed("\"signature\" must be an object with \"algorithm\" and \"value\"".into()));
    };
    match sig.get("algorithm") {
        Some(Value::String(a)) if a == ALGORITHM => {}
        Some(Value::String(a)) => {
            return Err(VerifyError::Malformed(format!("unknown algorithm {a:?} (expected {ALGORITHM:?})")));
        }
        _ => return Err(VerifyError::Malformed("\"signature.algorithm\" is missing".into())),
    }
    let Some(Value::String(hex)) = sig.get("value") else {
        return Err(VerifyError::Malformed("\"signature.value\" is missing".into()));
    };
    let tag = from_hex(hex)
        .filter(|t| t.len() == 32)
        .ok_or_else(|| VerifyError::Malformed("\"signature.value\" is not 64 hex digits".into()))?;
    let mut m = mac(key);
    m.update(&canonical_bytes(report));
    m.verify_slice(&tag).map_err(|_| VerifyError::Mismatch)
}

/// Sign a report document as the grader writes it: one lab's object, or an array of them
/// (each element is signed on its own, so a roster can take the labs apart).
pub fn sign_document(doc: &mut Value, key: &[u8]) {
    match doc {
        Value::Array(items) => items.iter_mut().for_each(|r| sign(r, key)),
        one => sign(one, key),
    }
}

/// Verify every lab report of a document: one result per report, in document order (one for
/// an object, one per element for an array; none for an empty array).
pub fn verify_document(doc: &Value, key: &[u8]) -> Vec<Result<(), VerifyError>> {
    match doc {
        Value::Array(items) => items.iter().map(|r| verify(r, key)).collect(),
        // `labgrade grade`: each lab's report is signed on its own.
        Value::Object(o) if o.get("labs").is_some_and(Value::is_array) => {
            o["labs"].as_array().into_iter().flatten().map(|r| verify(r, key)).collect()
        }
        one => vec![verify(one, key)],
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let s = s.as_bytes();
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks_exact(2).map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &[u8] = b"instructor-secret";

    fn report() -> Value {
        json!({
            "lab": "01-runtime",
            "title": "Node Runtime",
            "score": 81.3,
            "passed": true,
            "pass_mark": 80.0,
            "duration_ms": 3200,
            "target": "http://127.0.0.1:3000",
            "grader_version": "0.1.0",
            "spec_sha256": "ab".repeat(32),
            "learner": "ada",
            "criteria": [{ "id": "runtime", "text": "The runtime model", "score": 75.0 }],
            "failed_blocking": [],
            "checks": [
                { "id": "a", "outcome": "pass", "message": "ok \"quoted\" ✓", "evidence": [] },
                {
                    "id": "b",
                    "outcome": "fail",
                    "message": "bad",
                    "evidence": [{ "type": "curl", "line": "curl -sS http://x/" }],
                },
            ],
            "steps": [],
        })
    }

    fn signed() -> Value {
        let mut r = report();
        sign(&mut r, KEY);
        r
    }

    #[test]
    fn signed_report_verifies() {
        let r = signed();
        assert_eq!(r["signature"]["algorithm"], "HMAC-SHA256");
        let value = r["signature"]["value"].as_str().unwrap();
        assert_eq!(value.len(), 64);
        assert!(value.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(verify(&r, KEY), Ok(()));
        // Signing again (a signature already there) gives the same signature.
        let mut again = r.clone();
        sign(&mut again, KEY);
        assert_eq!(again, r);
    }

    #[test]
    fn canonical_sorts_keys_recursively_and_drops_only_the_top_signature() {
        let v = json!({ "b": 1, "a": { "z": [ { "y": 2, "x": 1.5 } ], "signature": "kept" }, "signature": {} });
        assert_eq!(canonical(&v), r#"{"a":{"signature":"kept","z":[{"x":1.5,"y":2}]},"b":1}"#);
        assert_eq!(canonical(&json!({ "s": "a\"b\n" })), r#"{"s":"a\"b\n"}"#);
    }

    #[test]
    fn reordered_keys_and_other_whitespace_still_verify() {
        let r = signed();
        // Pretty-printed and parsed back.
        let pretty: Value = serde_json::from_str(&serde_json::to_string_pretty(&r).unwrap()).unwrap();
        assert_eq!(verify(&pretty, KEY), Ok(()));
        // Keys in reverse order at every level (serde_json keeps insertion order here).
        fn reversed(v: &Value) -> Value {
            match v {
                Value::Object(m) => Value::Object(m.iter().rev().map(|(k, v)| (k.clone(), reversed(v))).collect()),
                Value::Array(a) => Value::Array(a.iter().map(reversed).collect()),
                s => s.clone(),
            }
        }
        let rev = reversed(&r);
        assert_ne!(serde_json::to_string(&rev).unwrap(), serde_json::to_string(&r).unwrap());
        assert_eq!(verify(&rev, KEY), Ok(()));
    }

    #[test]
    fn content_edits_fail() {
        let edits: [fn(&mut Value); 6] = [
            |r| r["score"] = json!(100.0),
            |r| r["passed"] = json!(false),
            |r| r["checks"][1]["outcome"] = json!("pass"),
            |r| r["learner"] = json!("someone-else"),
            |r| r["spec_sha256"] = json!("00".repeat(32)),
            |r| {
                r.as_object_mut().unwrap().insert("extra".into(), json!(1));
            },
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut r = signed();
            edit(&mut r);
            assert_eq!(verify(&r, KEY), Err(VerifyError::Mismatch), "edit {i}");
        }
        // Reordering the checks array is a content change too.
        let mut r = signed();
        r["checks"].as_array_mut().unwrap().reverse();
        assert_eq!(verify(&r, KEY), Err(VerifyError::Mismatch));
    }

    #[test]
    fn a_number_written_differently_is_an_edit() {
        let text = serde_json::to_string(&signed()).unwrap();
        assert!(text.contains("\"score\":81.3"));
        let edited: Value = serde_json::from_str(&text.replace("\"score\":81.3", "\"score\":81.30")).unwrap();
        // 81.30 parses to the same f64 and prints back as 81.3: not a content change.
        assert_eq!(verify(&edited, KEY), Ok(()));
        let edited: Value =
            serde_json::from_str(&text.replace("\"duration_ms\":3200", "\"duration_ms\":3200.0")).unwrap();
        assert_eq!(verify(&edited, KEY), Err(VerifyError::Mismatch));
    }

    #[test]
    fn wrong_key_fails() {
        assert_eq!(verify(&signed(), b"another-key"), Err(VerifyError::Mismatch));
        assert_eq!(verify(&signed(), b""), Err(VerifyError::Mismatch));
    }

    #[test]
    fn unsigned_and_malformed() {
        assert_eq!(verify(&report(), KEY), Err(VerifyError::Unsigned));
        let mut r = signed();
        r["signature"]["value"] = json!("xyz");
        assert!(matches!(verify(&r, KEY), Err(VerifyError::Malformed(_))));
        let mut r = signed();
        r["signature"]["algorithm"] = json!("HMAC-MD5");
        assert!(matches!(verify(&r, KEY), Err(VerifyError::Malformed(m)) if m.contains("HMAC-MD5")));
        let mut r = signed();
        r["signature"] = json!("abc");
        assert!(matches!(verify(&r, KEY), Err(VerifyError::Malformed(_))));
        // Uppercase hex of the right MAC still verifies.
        let mut r = signed();
        let upper = r["signature"]["value"].as_str().unwrap().to_uppercase();
        r["signature"]["value"] = json!(upper);
        assert_eq!(verify(&r, KEY), Ok(()));
        assert!(matches!(verify(&json!([1]), KEY), Err(VerifyError::Malformed(_))));
        assert!(VerifyError::Unsigned.to_string().contains(KEY_ENV));
    }

    #[test]
    fn documents_sign_and_verify_per_report() {
        let mut doc = json!([report(), report()]);
        doc[1]["lab"] = json!("02-http-contracts");
        sign_document(&mut doc, KEY);
        assert_eq!(verify_document(&doc, KEY), vec![Ok(()), Ok(())]);
        // Each element is signed alone: one can be taken out of the array and still verify.
        assert_eq!(verify(&doc[1], KEY), Ok(()));
        doc[1]["score"] = json!(0.0);
        assert_eq!(verify_document(&doc, KEY), vec![Ok(()), Err(VerifyError::Mismatch)]);

        let mut one = report();
        sign_document(&mut one, KEY);
        assert_eq!(verify_document(&one, KEY), vec![Ok(())]);
        assert_eq!(verify_document(&json!([]), KEY), vec![]);
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(to_hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(from_hex("000fA5ff"), Some(vec![0x00, 0x0f, 0xa5, 0xff]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
