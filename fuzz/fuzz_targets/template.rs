//! `{{name}}` templating on arbitrary text and JSON: no panic; text without `{{` comes back
//! unchanged.
#![no_main]

use labgrade::template::{Vars, render, render_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let vars: Vars = [("customer".to_string(), "c-1".to_string()), ("x".to_string(), "{{x}}".to_string())].into();
    match render(&text, &vars) {
        Ok(out) if !text.contains("{{") => assert_eq!(out, text),
        _ => {}
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        let _ = render_json(&v, &vars);
    }
});
