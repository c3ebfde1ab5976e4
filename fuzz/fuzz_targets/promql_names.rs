//! Metric names out of arbitrary PromQL-ish text: no panic, every name a valid metric name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for n in labgrade::prom::promql::metric_names(&text) {
        assert!(!n.is_empty());
        assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "{n:?}");
    }
});
