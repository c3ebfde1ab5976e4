//! The learner's slo.toml on arbitrary input: no panic; an accepted SLO is within bounds.
#![no_main]

use labgrade::slo::{Floor, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let floor = Floor { p95_latency_ms: 400.0, availability_percent: 99.5 };
    if let Ok(s) = parse("slo.toml", &text, Some(&floor)) {
        assert!(s.availability_percent >= 99.5 && s.availability_percent < 100.0);
        assert!(s.p95_latency_ms >= 1.0 && s.p95_latency_ms <= 400.0);
    }
});
