//! "Did you mean …?": the closest known name to a misspelt one, by edit distance.

/// Edit distance in characters: insertions, deletions, substitutions, and swaps of two
/// neighbours (the commonest typo, `titel`) — Levenshtein with transpositions (optimal
/// string alignment).
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, x) in d[0].iter_mut().enumerate() {
        *x = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a likely typo: at most a
/// third of the longer one's length away (and at least one edit is always allowed).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = word.chars().count();
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (levenshtein(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (len.max(c.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Names between backticks in a serde message (`` `a`, `b` ``).
fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// The unknown name and what serde said was expected, for "unknown field" and "unknown
/// variant" messages.
pub fn unknown_name(msg: &str) -> Option<(&str, Vec<&str>)> {
    for prefix in ["unknown field `", "unknown variant `"] {
        if let Some(at) = msg.find(prefix) {
            let rest = &msg[at + prefix.len()..];
            let (name, tail) = rest.split_once('`')?;
            return Some((name, backticked(tail)));
        }
    }
    None
}

/// Add "did you mean …?" to a message about an unknown field, variant or kind. `extra` are
/// names that are valid here although the message does not list them (the keys every check
/// has, when the message comes from the kind's own keys).
pub fn enrich(msg: &str, extra: &[&str]) -> String {
    if let Some((name, mut expected)) = unknown_name(msg) {
        expected.extend_from_slice(extra);
        if let Some(best) = closest(name, expected) {
            return format!("{msg}; did you mean `{best}`?");
        }
        return msg.to_string();
    }
    // `unknown check kind "htp"; expected one of: http, load_probe, …`
    for what in ["unknown check kind \"", "unknown step kind \""] {
        if let Some(rest) = msg.strip_prefix(what)
            && let Some((name, tail)) = rest.split_once('"')
            && let Some((_, list)) = tail.split_once("expected one of: ")
            && let Some(best) = closest(name, list.split(", "))
        {
            return format!("{msg}; did you mean \"{best}\"?");
        }
    }
    msg.to_string()
}

/// The name a message suggests (`did you mean `x`?`), if any.
pub fn suggested(msg: &str) -> Option<&str> {
    let at = msg.rfind("did you mean `")?;
    msg[at + "did you mean `".len()..].split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("abc", ""), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("requets", "request"), 1);
        assert_eq!(levenshtein("titel", "title"), 1);
        assert_eq!(levenshtein("ca", "abc"), 3);
        assert_eq!(levenshtein("htp", "http"), 1);
        assert_eq!(levenshtein("é", "e"), 1);
    }

    #[test]
    fn closest_only_when_close() {
        let c = ["request", "expect", "capture"];
        assert_eq!(closest("requets", c), Some("request"));
        assert_eq!(closest("expct", c), Some("expect"));
        assert_eq!(closest("zzzzzzz", c), None);
        assert_eq!(closest("eror", ["errors", "data"]), Some("errors"));
        assert_eq!(closest("id", ["doc", "kind"]), None);
        assert_eq!(closest("http", ["http"]), None, "the word itself is no suggestion");
        assert_eq!(closest("Weight", ["weight"]), Some("weight"));
    }

    #[test]
    fn enriches_unknown_fields_variants_and_kinds() {
        let m = "unknown field `requets`, expected one of `request`, `expect`, `capture`";
        assert_eq!(enrich(m, &[]), format!("{m}; did you mean `request`?"));
        let m = "unknown field `critrion`, expected one of `request`, `expect`, `capture`";
        assert_eq!(enrich(m, &["criterion"]), format!("{m}; did you mean `criterion`?"));
        let m = "unknown field `x`, there are no fields";
        assert_eq!(enrich(m, &[]), m);
        let m = "unknown variant `yml`, expected one of `openapi`, `yaml`, `json`";
        assert_eq!(enrich(m, &[]), format!("{m}; did you mean `yaml`?"));
        let m = "unknown check kind \"htp\"; expected one of: http, load_probe, doc";
        assert_eq!(enrich(m, &[]), format!("{m}; did you mean \"http\"?"));
        let m = "unknown check kind \"zzzzzz\"; expected one of: http, load_probe, doc";
        assert_eq!(enrich(m, &[]), m);
        assert_eq!(enrich("missing field `hint`", &[]), "missing field `hint`");
    }

    #[test]
    fn finds_the_suggestion_again() {
        assert_eq!(suggested("unknown field `critrion`, expected `a`; did you mean `criterion`?"), Some("criterion"));
        assert_eq!(suggested("missing field `hint`"), None);
    }
}
