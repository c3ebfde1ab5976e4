//! Sections of a Markdown document with their word counts. Pure.

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub heading: String,
    pub level: u8,
    /// Words in the section's body, subsections included.
    pub words: usize,
    /// The body's text (subsections included), words separated by spaces.
    pub text: String,
}

pub fn sections(md: &str) -> Vec<Section> {
    // (heading, level, own words, own text) in order; subsections are added afterwards.
    let mut flat: Vec<(String, u8, usize, String)> = Vec::new();
    let mut in_heading: Option<(u8, String)> = None;
    for ev in Parser::new(md) {
        match ev {
            Event::Start(Tag::Heading { level, .. }) => in_heading = Some((level as u8, String::new())),
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text)) = in_heading.take() {
                    flat.push((text.trim().to_string(), level, 0, String::new()));
                }
            }
            Event::Text(t) | Event::Code(t) => match &mut in_heading {
                Some((_, h)) => h.push_str(&t),
                None => {
                    if let Some(last) = flat.last_mut() {
                        last.2 += t.split_whitespace().count();
                        last.3.push_str(&t);
                        last.3.push(' ');
                    }
                }
            },
            _ => {}
        }
    }
    (0..flat.len())
        .map(|i| {
            let (heading, level, own, own_text) = &flat[i];
            let nested = flat[i + 1..].iter().take_while(|(_, l, _, _)| l > level);
            let words = own + nested.clone().map(|(_, _, w, _)| w).sum::<usize>();
            let text = std::iter::once(own_text.as_str()).chain(nested.map(|(_, _, _, t)| t.as_str())).collect();
            Section { heading: heading.clone(), level: *level, words, text }
        })
        .collect()
}

/// Headings match case-insensitively, ignoring trailing punctuation; "Owns (data)" counts
/// as "Owns".
pub fn heading_matches(heading: &str, wanted: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches([':', '.']).to_lowercase();
    let (h, w) = (norm(heading), norm(wanted));
    h == w || h.strip_prefix(&w).is_some_and(|rest| rest.starts_with(|c: char| !c.is_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD: &str = "# Boundary\nintro words here\n\n## Owns\none two three\n\n### Detail\nfour five\n\n## Calls\n- PostgreSQL `pg`\n- nothing else\n\n## Runtime notes:\n";

    #[test]
    fn counts_words_per_section_including_subsections() {
        let s = sections(MD);
        let get = |h: &str| s.iter().find(|x| x.heading == h).unwrap().words;
        assert_eq!(get("Owns"), 5);
        assert_eq!(get("Detail"), 2);
        assert_eq!(get("Calls"), 4);
        assert_eq!(get("Runtime notes:"), 0);
        assert_eq!(get("Boundary"), 3 + 5 + 4);
    }

    #[test]
    fn heading_matching_is_forgiving_but_not_loose() {
        assert!(heading_matches("Runtime notes:", "runtime notes"));
        assert!(heading_matches("Owns (data)", "Owns"));
        assert!(!heading_matches("Ownership", "Owns"));
        assert!(!heading_matches("Calls", "Owns"));
    }
}
