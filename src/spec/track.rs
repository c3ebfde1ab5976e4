//! The track: ordered labs, sections, pass mark (`labs/track.toml`).

use super::de::Doc;
use super::diag::Diagnostic;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Track {
    pub title: String,
    #[serde(default)]
    pub summary: String,
    /// Percent a lab must score to pass, and the track score needed for the certificate.
    pub pass_mark: f64,
    /// The lab that assesses the whole track (a capstone): it re-runs every blocking check
    /// of the other labs, and `labgrade lab lint` holds it to that.
    #[serde(default)]
    pub assessment: Option<String>,
    #[serde(rename = "section")]
    pub sections: Vec<Section>,
    #[serde(rename = "lab")]
    pub labs: Vec<TrackLab>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub summary: String,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackLab {
    pub id: String,
    pub title: String,
    pub section: String,
}

impl Track {
    pub fn parse(file: &str, src: &str) -> Result<Track, Diagnostic> {
        let doc = Doc::new(file, src);
        let root = doc.parse()?;
        let span = root.span();
        let track: Track = doc.table(root.into_inner(), span)?;
        for lab in &track.labs {
            if !track.sections.iter().any(|s| s.id == lab.section) {
                let at = src.find(&format!("\"{}\"", lab.section)).unwrap_or(0);
                return Err(doc.err(
                    at..at + lab.section.len() + 2,
                    format!("lab {} names section {:?}, which no [[section]] defines", lab.id, lab.section),
                ));
            }
        }
        if let Some(a) = &track.assessment
            && !track.labs.iter().any(|l| &l.id == a)
        {
            let at = src.find(&format!("\"{a}\"")).unwrap_or(0);
            return Err(doc.err(at..at + a.len() + 2, format!("assessment names lab {a:?}, which no [[lab]] lists")));
        }
        Ok(track)
    }

    /// Resolve what a user typed (`2`, `02`, `02-http-contracts`) to a lab id.
    pub fn resolve(&self, wanted: &str) -> Option<&TrackLab> {
        let wanted = wanted.trim();
        if let Ok(n) = wanted.parse::<u32>() {
            let prefix = format!("{n:02}-");
            return self.labs.iter().find(|l| l.id.starts_with(&prefix));
        }
        self.labs.iter().find(|l| l.id == wanted || l.id.split_once('-').is_some_and(|(_, slug)| slug == wanted))
    }

    pub fn section(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"
title = "T"
pass_mark = 80
[[section]]
id = "a"
title = "A"
[[lab]]
id = "01-runtime"
title = "R"
section = "a"
[[lab]]
id = "02-http-contracts"
title = "H"
section = "a"
"#;

    #[test]
    fn resolves_numbers_ids_and_slugs() {
        let t = Track::parse("track.toml", SRC).unwrap();
        assert_eq!(t.resolve("2").unwrap().id, "02-http-contracts");
        assert_eq!(t.resolve("02").unwrap().id, "02-http-contracts");
        assert_eq!(t.resolve("01-runtime").unwrap().id, "01-runtime");
        assert_eq!(t.resolve("http-contracts").unwrap().id, "02-http-contracts");
        assert!(t.resolve("3").is_none());
        assert!(t.resolve("nope").is_none());
    }

    #[test]
    fn unknown_section_is_located() {
        let src = SRC.replace("section = \"a\"\n[[lab]]", "section = \"zz\"\n[[lab]]");
        let err = Track::parse("track.toml", &src).unwrap_err();
        assert!(err.to_string().contains("section \"zz\""), "{err}");
        assert_eq!(err.location.line, 10);
    }
}
