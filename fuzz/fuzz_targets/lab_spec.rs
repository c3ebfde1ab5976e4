//! The spec and config loaders on arbitrary input: a lab.toml, a track.toml and a learner's
//! labgrade.toml. No panic; an error always has a location inside the text.
#![no_main]

use labgrade::config::Config;
use labgrade::spec::{Lab, LabSource, Track};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let source = LabSource::Dir(std::path::PathBuf::from("/nonexistent-labs"));
    if let Err(d) = Lab::parse(&source, "01-x/lab.toml", &text) {
        assert!(d.location.line <= text.lines().count() + 1, "{d:?}");
    }
    let _ = Track::parse("track.toml", &text);
    let _ = lint_text(&text);
    let _ = Config::parse(std::path::Path::new("/nonexistent/labgrade.toml"), &text, &|_| None);
});

/// A lab folder with no other files and no other labs.
struct NoFiles;

impl labgrade::lint::Files for NoFiles {
    fn read(&self, _: &str) -> std::io::Result<Option<String>> {
        Ok(None)
    }
    fn display(&self, rel: &str) -> String {
        rel.to_string()
    }
    fn lab_ids(&self, _: &str) -> Option<labgrade::lint::LabIds> {
        None
    }
    fn labs(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Lint walks each table on its own; it must not panic where the parser stops early.
fn lint_text(text: &str) -> usize {
    labgrade::lint::lab::lint_lab("01-x/lab.toml", text, "01-x", &NoFiles).len()
}
