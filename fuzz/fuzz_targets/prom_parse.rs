//! The Prometheus exposition parser on arbitrary input: no panic, and every sample it
//! accepts survives a round trip through the label formatter.
#![no_main]

use labgrade::prom::{self, histogram};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(exp) = prom::parse(&text) else { return };
    for s in &exp.samples {
        let line = format!("{}{} 1", s.name, prom::format_labels(&s.labels));
        let again = prom::parse(&line).expect("a formatted sample parses");
        assert_eq!(again.samples[0].labels, s.labels, "{line}");
    }
    for name in exp.types.keys() {
        if let Ok(hs) = histogram::collect(&exp, name) {
            for h in &hs {
                let _ = histogram::problems(h);
                let _ = histogram::quantile_bucket(&h.buckets, 0.95);
            }
            let merged = histogram::merge(&hs);
            let _ = histogram::delta(&merged, &merged);
        }
    }
});
