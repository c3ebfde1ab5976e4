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

/// How well a heading matches a wanted title, best first. Pure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HeadingMatch {
    /// The wanted words are all in a longer heading ("Why column order matters").
    Contains,
    /// The same words, up to inflection and spelling ("Streaming" for "Streamed").
    SameWords,
    /// The same text, up to case and punctuation ("Runtime notes:").
    Exact,
}

/// Does `heading` match `wanted` by meaning? Case and punctuation are ignored, inflections
/// are one word (streamed, streaming, streams), British and American spellings are one word
/// (authorisation, authorization), and a heading that contains every wanted word (small
/// words such as "the" and "to" aside) counts. `None`: no match.
pub fn heading_match(heading: &str, wanted: &str) -> Option<HeadingMatch> {
    let squash = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect::<String>();
    if !squash(wanted).is_empty() && squash(heading) == squash(wanted) {
        return Some(HeadingMatch::Exact);
    }
    let (h, w) = (stems(heading, true), content(stems(wanted, false)));
    if w.is_empty() {
        return None;
    }
    let hc = content(h.clone());
    let mut hs = hc.clone();
    hs.sort();
    hs.dedup();
    let mut ws = w.clone();
    ws.sort();
    ws.dedup();
    if hs == ws {
        return Some(HeadingMatch::SameWords);
    }
    w.iter().all(|x| h.contains(x)).then_some(HeadingMatch::Contains)
}

/// Headings match by meaning (see [`heading_match`]).
pub fn heading_matches(heading: &str, wanted: &str) -> bool {
    heading_match(heading, wanted).is_some()
}

/// The heading nearest to `wanted` among `headings`, and why it did not count: the wanted
/// words it lacks, or that it shares none. For a failing doc check's message.
pub fn nearest<'a>(headings: impl IntoIterator<Item = &'a str>, wanted: &str) -> Option<(&'a str, String)> {
    let w = content(stems(wanted, false));
    let mut best: Option<(usize, usize, &str)> = None;
    for h in headings {
        let hs = stems(h, true);
        let shared = w.iter().filter(|x| hs.contains(x)).count();
        let dist = edit_distance(&h.to_lowercase(), &wanted.to_lowercase());
        if best.is_none_or(|(s, d, _)| shared > s || (shared == s && dist < d)) {
            best = Some((shared, dist, h));
        }
    }
    let (shared, _, h) = best?;
    let hs = stems(h, true);
    let lacks: Vec<String> = wanted
        .split(|c: char| !c.is_alphanumeric())
        .filter(|x| !x.is_empty())
        .filter(|x| content(stems(x, false)).iter().any(|st| !hs.contains(st)))
        .map(|x| format!("\"{x}\""))
        .collect();
    let why = if shared == 0 {
        format!("it shares no word with \"{wanted}\"")
    } else {
        format!("it lacks {}", lacks.join(", "))
    };
    Some((h, why))
}

/// Small words that carry no meaning of their own in a title.
const STOP: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "at", "from", "is", "are", "be", "why",
    "what", "how", "when", "where", "which", "who", "we", "our", "us", "it", "its", "this", "that", "not",
];

fn content(words: Vec<String>) -> Vec<String> {
    let kept: Vec<String> = words.iter().filter(|w| !STOP.contains(&w.as_str())).cloned().collect();
    if kept.is_empty() { words } else { kept }
}

/// The stems of a title's words. With `joined`, a hyphenated compound also counts as one
/// word ("Trade-offs" holds trade, off and tradeoff).
fn stems(text: &str, joined: bool) -> Vec<String> {
    let mut out = Vec::new();
    for part in text.split(|c: char| c.is_whitespace() || ",;:()[]/&.!?\"'`*_#".contains(c)) {
        let pieces: Vec<&str> = part.split(|c: char| !c.is_alphanumeric()).filter(|p| !p.is_empty()).collect();
        out.extend(pieces.iter().map(|p| stem(p)));
        if joined && pieces.len() > 1 {
            out.push(stem(&pieces.concat()));
        }
    }
    out
}

/// One word's stem: lowercase, American spelling, no inflection. Crude but symmetric: both
/// sides of a comparison go through it, so an over-eager rule makes no false difference.
pub fn stem(word: &str) -> String {
    let mut w = american(&word.to_lowercase());
    for (suffix, with) in [("ies", "y"), ("ied", "y"), ("ings", ""), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")] {
        let Some(base) = w.strip_suffix(suffix) else { continue };
        let keep = match suffix {
            "s" => !(base.ends_with('s') || base.ends_with('u') || base.ends_with('i')),
            "ed" => !base.ends_with('e'),
            _ => true,
        };
        if keep && base.chars().count() >= 3 {
            w = format!("{base}{with}");
        }
        break;
    }
    if w.chars().count() > 3 && w.ends_with('e') {
        w.pop();
    }
    let b = w.as_bytes();
    if b.len() > 3 && b[b.len() - 1] == b[b.len() - 2] && !b"aeiou".contains(&b[b.len() - 1]) {
        w.pop();
    }
    w
}

/// British spellings as American ones (authorise → authorize, behaviour → behavior).
fn american(w: &str) -> String {
    const WORDS: &[(&str, &str)] = &[
        ("grey", "gray"),
        ("defence", "defense"),
        ("offence", "offense"),
        ("licence", "license"),
        ("programme", "program"),
        ("programmes", "programs"),
        ("cheque", "check"),
        ("judgement", "judgment"),
        ("ageing", "aging"),
        ("acknowledgement", "acknowledgment"),
    ];
    if let Some((_, us)) = WORDS.iter().find(|(gb, _)| *gb == w) {
        return us.to_string();
    }
    let n = w.chars().count();
    for (gb, us) in [
        ("isations", "izations"),
        ("isation", "ization"),
        ("ising", "izing"),
        ("ised", "ized"),
        ("ises", "izes"),
        ("isers", "izers"),
        ("iser", "izer"),
        ("ise", "ize"),
        ("ysing", "yzing"),
        ("ysed", "yzed"),
        ("yse", "yze"),
        ("ouring", "oring"),
        ("oured", "ored"),
        ("ours", "ors"),
        ("our", "or"),
        ("tres", "ters"),
        ("tre", "ter"),
        ("ogues", "ogs"),
        ("ogue", "og"),
    ] {
        if let Some(base) = w.strip_suffix(gb) {
            // Short words are left alone: "four", "hour", "rise", "wise" are not British.
            let min = if gb.starts_with("our") || gb.starts_with("ours") { 6 } else { 5 };
            if n >= min && n > gb.len() + 1 {
                return format!("{base}{us}");
            }
            break;
        }
    }
    w.to_string()
}

/// Levenshtein distance, for naming the nearest heading.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
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

    #[test]
    fn headings_match_by_meaning() {
        use HeadingMatch::*;
        // Accepted: the reviewer's examples, and their kin.
        assert_eq!(heading_match("Why column order matters", "Column order"), Some(Contains));
        assert_eq!(heading_match("Streaming", "Streamed"), Some(SameWords));
        assert_eq!(heading_match("Authorisation", "Authorization"), Some(SameWords));
        assert_eq!(heading_match("AUTHORIZATION.", "Authorization"), Some(Exact));
        assert_eq!(heading_match("Trade-offs", "Tradeoffs"), Some(Exact));
        assert_eq!(heading_match("Trade-offs and risks", "Tradeoffs"), Some(Contains));
        assert_eq!(heading_match("Caching", "Cached"), Some(SameWords));
        assert_eq!(heading_match("Queues", "Queued"), Some(SameWords));
        assert_eq!(heading_match("What we leave to other services", "Leaves to others"), Some(Contains));
        assert_eq!(heading_match("Indexes", "The index"), Some(SameWords));
        assert_eq!(heading_match("Behaviour under load", "Behavior"), Some(Contains));
        assert_eq!(heading_match("Modelling the entities", "Modeling"), Some(Contains));
        assert_eq!(heading_match("On call actions", "On-call action"), Some(SameWords));
        // Refused: unrelated headings, and words that only look alike.
        assert_eq!(heading_match("Cached", "Streamed"), None);
        assert_eq!(heading_match("Ownership", "Owns"), None);
        assert_eq!(heading_match("Callers", "Calls"), None);
        assert_eq!(heading_match("Authentication", "Authorization"), None);
        assert_eq!(heading_match("Column types", "Column order"), None);
        assert_eq!(heading_match("Order of business", "Column order"), None);
        assert_eq!(heading_match("The", "The index"), None);
        assert_ne!(stem("four"), stem("for"));
    }

    #[test]
    fn what_the_lab_readmes_promise() {
        for (h, w) in [
            ("What Ledger owns", "Owns"),
            ("Entity list", "Entities"),
            ("Trade-offs", "Tradeoffs"),
            ("Symptom", "Symptoms"),
            ("First response (payment provider)", "First response"),
            ("On-call action (pages)", "On-call action"),
            ("Service contract", "Contract"),
            ("Contracts", "Contract"),
            ("Our rollback plan", "Rollback plan"),
            ("Queued (reports)", "Queued"),
        ] {
            assert!(heading_matches(h, w), "{h} should count as {w}");
        }
        for (h, w) in [
            ("Ownership", "Owns"),
            ("Tables", "Entities"),
            ("Authn", "Authentication"),
            ("Response", "First response"),
            ("On-call", "On-call action"),
            ("API", "Contract"),
            ("Rollback", "Rollback plan"),
            ("Performance", "Synchronous"),
            ("Performance", "Streamed"),
        ] {
            assert!(!heading_matches(h, w), "{h} should not count as {w}");
        }
    }

    #[test]
    fn stems_and_spellings() {
        for (a, b) in [
            ("streamed", "streams"),
            ("queueing", "queue"),
            ("policies", "policy"),
            ("retried", "retry"),
            ("analysed", "analyzed"),
            ("centre", "center"),
            ("catalogue", "catalog"),
            ("colours", "colors"),
            ("cancelled", "canceled"),
            ("licence", "license"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} vs {b}");
        }
        for (a, b) in [("status", "stat"), ("speed", "spe"), ("process", "proc"), ("hour", "hor"), ("owner", "own")] {
            assert_ne!(stem(a), stem(b), "{a} vs {b}");
        }
    }

    #[test]
    fn nearest_heading_says_why_it_did_not_count() {
        let hs = ["Overview", "Caching strategy", "Streams of work"];
        let (h, why) = nearest(hs, "Cache invalidation").unwrap();
        assert_eq!(h, "Caching strategy");
        assert_eq!(why, "it lacks \"invalidation\"");
        let (h, why) = nearest(["Overview", "Owners"], "Calls").unwrap();
        assert_eq!((h, why.as_str()), ("Owners", "it shares no word with \"Calls\""));
        assert!(nearest([], "Calls").is_none());
    }
}
