//! `kind = "doc"`: a Markdown file in the learner's repo with required sections, each with a
//! minimum number of words, and optionally a repeated kind of section (threats, each with
//! its mitigation).

use super::{Ctx, Evidence, Outcome};
use crate::markdown;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Default path in the learner's repo.
    pub file: String,
    /// Name of an `[artifacts]` entry in labgrade.toml that may move the file.
    pub artifact: Option<String>,
    #[serde(default)]
    pub sections: Vec<SectionReq>,
    /// At least `min` sections at level `level` that each mention a word and are long enough.
    pub repeated: Option<Repeated>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Repeated {
    pub min: usize,
    /// Heading level of the repeated sections (`##` is 2).
    #[serde(default = "two")]
    pub level: u8,
    /// Each must contain this word (case-insensitive), e.g. "Mitigation".
    pub mentions: Option<String>,
    #[serde(default)]
    pub min_words: usize,
    /// What one of them is called, for messages ("threat").
    #[serde(default = "section")]
    pub noun: String,
}

fn two() -> u8 {
    2
}

fn section() -> String {
    "section".into()
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionReq {
    /// The wanted title. Matched by meaning: case, punctuation, inflection and British or
    /// American spelling aside, and contained in a longer heading.
    pub heading: String,
    #[serde(default)]
    pub min_words: usize,
    /// Other titles that count as this section ("Background jobs" for "Queued").
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl SectionReq {
    /// How well `heading` matches this section (its title or an alias), best first.
    pub fn matches(&self, heading: &str) -> Option<markdown::HeadingMatch> {
        std::iter::once(&self.heading).chain(&self.aliases).filter_map(|w| markdown::heading_match(heading, w)).max()
    }
}

impl Spec {
    pub fn validate(&self) -> Result<(), String> {
        if self.file.trim().is_empty() {
            return Err("`file` must name a file in the learner's repo".into());
        }
        Ok(())
    }
}

/// Problems with the repeated sections (empty: enough of them qualify). Pure.
pub fn judge_repeated(md: &str, r: &Repeated) -> Vec<Evidence> {
    let mut problems = Vec::new();
    let mut good = 0;
    for s in markdown::sections(md).iter().filter(|s| s.level == r.level) {
        let mentions = r.mentions.as_deref().is_none_or(|w| s.text.to_lowercase().contains(&w.to_lowercase()));
        if mentions && s.words >= r.min_words {
            good += 1;
            continue;
        }
        let mut lacks = Vec::new();
        if !mentions {
            lacks.push(format!("no \"{}\"", r.mentions.as_deref().unwrap_or_default()));
        }
        if s.words < r.min_words {
            lacks.push(format!("{} words, at least {} needed", s.words, r.min_words));
        }
        problems.push(Evidence::Assert {
            what: format!("{} \"{}\"", r.noun, s.heading),
            expected: match &r.mentions {
                Some(w) => format!("mentions \"{w}\", at least {} words", r.min_words),
                None => format!("at least {} words", r.min_words),
            },
            actual: lacks.join("; "),
        });
    }
    if good >= r.min {
        return Vec::new();
    }
    problems.insert(
        0,
        Evidence::Assert {
            what: format!("{}s", r.noun),
            expected: format!("at least {} ({} heading each)", r.min, "#".repeat(r.level as usize)),
            actual: format!("{good} that qualify"),
        },
    );
    problems
}

/// Problems with a document's sections (empty: it meets the spec). Pure.
pub fn judge(md: &str, wanted: &[SectionReq]) -> Vec<Evidence> {
    let found = markdown::sections(md);
    let mut problems = Vec::new();
    for req in wanted {
        // The best match wins; among equals, the first that is long enough, then the first.
        let best = found.iter().filter_map(|s| req.matches(&s.heading).map(|m| (m, s))).fold(
            None::<(markdown::HeadingMatch, &markdown::Section)>,
            |acc, (m, s)| match acc {
                Some((am, a)) if am > m || (am == m && (a.words >= req.min_words || s.words < req.min_words)) => {
                    Some((am, a))
                }
                _ => Some((m, s)),
            },
        );
        match best.map(|(_, s)| s) {
            None => problems.push(Evidence::Assert {
                what: format!("section \"{}\"", req.heading),
                expected: if req.aliases.is_empty() {
                    "a heading with this title".into()
                } else {
                    format!("a heading with this title, or {}", quoted(&req.aliases))
                },
                actual: match std::iter::once(&req.heading)
                    .chain(&req.aliases)
                    .filter_map(|w| markdown::nearest(found.iter().map(|s| s.heading.as_str()), w))
                    .next()
                {
                    Some((h, why)) => format!("no such heading; the nearest is \"{h}\": {why}"),
                    None => "no such heading (the file has no headings)".into(),
                },
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

fn quoted(titles: &[String]) -> String {
    titles.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(" or ")
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
    let mut problems = judge(&md, &spec.sections);
    let section_problems = problems.len();
    let repeated_problems = spec.repeated.as_ref().map(|r| judge_repeated(&md, r)).unwrap_or_default();
    let repeated_short = !repeated_problems.is_empty();
    problems.extend(repeated_problems);
    if problems.is_empty() {
        return Outcome::pass(match &spec.repeated {
            Some(r) => format!("{shown} has the required sections and at least {} {}s", r.min, r.noun),
            None => format!("{shown} has {} required section(s)", spec.sections.len()),
        });
    }
    let mut what = Vec::new();
    if section_problems > 0 {
        what.push(format!("{section_problems} of {} required section(s) missing or too short", spec.sections.len()));
    }
    if let Some(r) = spec.repeated.as_ref().filter(|_| repeated_short) {
        what.push(format!("fewer than {} {}s that qualify", r.min, r.noun));
    }
    let headings: Vec<String> =
        markdown::sections(&md).into_iter().map(|s| format!("{} ({} words)", s.heading, s.words)).collect();
    Outcome::fail(format!("{shown}: {}", what.join("; "))).with_all(problems).with(Evidence::Note {
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
        SectionReq { heading: h.into(), min_words: n, aliases: Vec::new() }
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
        assert!(
            matches!(&p[1], Evidence::Assert { actual, .. } if actual == "no such heading; the nearest is \"Owns\": it shares no word with \"Runtime notes\""),
            "{p:?}"
        );
    }

    #[test]
    fn repeated_sections_count_only_those_that_qualify() {
        let r = Repeated { min: 3, level: 2, mentions: Some("Mitigation".into()), min_words: 4, noun: "threat".into() };
        let md = "# Threats\n## Forged tokens\nanyone signs one. **Mitigation:** verify\n## Leaks\ndata crosses tenants. mitigation: scope\n## Floods\nbig bodies hurt us badly\n";
        let p = judge_repeated(md, &r);
        assert!(matches!(&p[0], Evidence::Assert { actual, .. } if actual == "2 that qualify"), "{p:?}");
        assert!(
            matches!(&p[1], Evidence::Assert { what, actual, .. } if what == "threat \"Floods\"" && actual == "no \"Mitigation\"")
        );
        let md3 = format!("{md}Mitigation: a limit\n");
        assert!(judge_repeated(&md3, &r).is_empty());
    }

    #[test]
    fn headings_a_reviewer_accepts_count() {
        let md = "## Why column order matters\none two three\n## Streaming\na b c\n## Authorisation\nx y z\n";
        assert!(judge(md, &[req("Column order", 3), req("Streamed", 3), req("Authorization", 3)]).is_empty());
    }

    #[test]
    fn an_unrelated_heading_fails_and_names_the_nearest() {
        let md = "## Caching strategy\nwhat is cached and for how long\n## Overview\nwords\n";
        let p = judge(md, &[req("Cache invalidation", 1)]);
        assert!(
            matches!(&p[0], Evidence::Assert { actual, .. } if actual == "no such heading; the nearest is \"Caching strategy\": it lacks \"invalidation\""),
            "{p:?}"
        );
        assert_eq!(judge("## Notes\nsome words\n", &[req("Streamed", 1)]).len(), 1);
    }

    #[test]
    fn aliases_count_and_the_best_match_wins() {
        let queued = SectionReq { aliases: vec!["Background jobs".into()], ..req("Queued", 3) };
        assert!(judge("## Background jobs\nthe report is queued\n", std::slice::from_ref(&queued)).is_empty());
        let p = judge("## Later\nx\n", std::slice::from_ref(&queued));
        assert!(
            matches!(&p[0], Evidence::Assert { expected, .. } if expected.contains("\"Background jobs\"")),
            "{p:?}"
        );
        // "Streamed" itself beats a longer heading that merely contains it, and the word
        // minimum is judged on the section that matched best.
        let md = "## What is not streamed\nx\n## Streamed\none two three four\n";
        assert!(judge(md, &[req("Streamed", 4)]).is_empty());
        let md = "## Streamed\none\n";
        assert!(
            matches!(&judge(md, &[req("Streaming", 4)])[0], Evidence::Assert { actual, .. } if actual == "1 words")
        );
    }

    #[test]
    fn complete_document_passes() {
        assert!(judge("# Owns\na b c\n", &[req("owns", 3)]).is_empty());
    }
}
