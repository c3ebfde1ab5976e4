//! `kind = "doc"`: a Markdown file in the learner's repo with required sections, each with a
//! minimum number of words.

use super::{Ctx, Evidence, Outcome};
use crate::markdown;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Default path in the learner's repo.
    pub file: String,
    /// Name of an `[artifacts]` entry in labgrade.toml that may move the file.
    pub artifact: Option<String>,
    #[serde(default)]
    pub sections: Vec<SectionReq>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionReq {
    pub heading: String,
    #[serde(default)]
    pub min_words: usize,
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if self.file.trim().is_empty() {
            return Err("`file` must name a file in the learner's repo".into());
        }
        Ok(())
    }
}

/// Problems with a document's sections (empty: it meets the spec). Pure.
pub fn judge(md: &str, wanted: &[SectionReq]) -> Vec<Evidence> {
    let found = markdown::sections(md);
    let mut problems = Vec::new();
    for req in wanted {
        match found.iter().find(|s| markdown::heading_matches(&s.heading, &req.heading)) {
            None => problems.push(Evidence::Assert {
                what: format!("section \"{}\"", req.heading),
                expected: "a heading with this title".into(),
                actual: "no such heading".into(),
            }),
            Some(s) if s.words < req.min_words => problems.push(Evidence::Assert {
                what: format!("section \"{}\"", req.heading),
                expected: format!("at least {} words", req.min_words),
                actual: format!("{} words", s.words),
            }),
            Some(_) => {}
        }
    }
    problems
}

pub fn run(spec: &Spec, ctx: &mut Ctx<'_>) -> Outcome {
    let path = ctx.config.artifact_path(spec.artifact.as_deref(), &spec.file);
    let shown = path.display().to_string();
    let md = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Outcome::fail(format!("{shown} does not exist")).with(Evidence::Note {
                text: format!(
                    "write it with the sections: {}",
                    spec.sections.iter().map(|s| s.heading.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        Err(e) => return Outcome::fail(format!("cannot read {shown}: {e}")),
    };
    let problems = judge(&md, &spec.sections);
    if problems.is_empty() {
        return Outcome::pass(format!("{shown} has {} required section(s)", spec.sections.len()));
    }
    let headings: Vec<String> =
        markdown::sections(&md).into_iter().map(|s| format!("{} ({} words)", s.heading, s.words)).collect();
    Outcome::fail(format!(
        "{shown}: {} of {} required section(s) missing or too short",
        problems.len(),
        spec.sections.len()
    ))
    .with_all(problems)
    .with(Evidence::Note {
        text: if headings.is_empty() {
            "the file has no headings".into()
        } else {
            format!("headings found: {}", headings.join(", "))
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(h: &str, n: usize) -> SectionReq {
        SectionReq { heading: h.into(), min_words: n }
    }

    #[test]
    fn missing_and_short_sections_are_named() {
        let md = "## Owns\nthe invoices and customers\n## Calls\nnothing\n";
        let p = judge(md, &[req("Owns", 3), req("Calls", 5), req("Runtime notes", 1)]);
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[0],
            Evidence::Assert {
                what: "section \"Calls\"".into(),
                expected: "at least 5 words".into(),
                actual: "1 words".into()
            }
        );
        assert!(matches!(&p[1], Evidence::Assert { actual, .. } if actual == "no such heading"));
    }

    #[test]
    fn complete_document_passes() {
        assert!(judge("# Owns\na b c\n", &[req("owns", 3)]).is_empty());
    }
}
