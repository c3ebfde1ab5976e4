//! A located error in a file the user wrote: `file:line:col: message`, with the source line
//! and a caret under the offending span (the way compilers and Hurl point at mistakes).

use std::fmt;
use std::ops::Range;

/// A position in a spec or config file, 1-based, as shown to users.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

impl Location {
    /// A placeholder until the parser sets the real position.
    pub fn nowhere() -> Location {
        Location { file: String::new(), line: 0, col: 0 }
    }

    /// Line and column (in characters) of byte offset `at` in `src`.
    pub fn at(file: &str, src: &str, at: usize) -> Location {
        let at = at.min(src.len());
        let before = &src[..floor_char_boundary(src, at)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        Location { file: file.to_string(), line, col }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// An error in a file the user wrote, with where it is and what was expected.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub location: Location,
    pub message: String,
    /// The source line and a caret line under the span.
    pub snippet: Option<(String, String)>,
}

impl Diagnostic {
    pub fn new(file: &str, src: &str, span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        let span = span.unwrap_or(0..0);
        let location = Location::at(file, src, span.start);
        let snippet = src.lines().nth(location.line - 1).map(|line| {
            let width = if span.end > span.start {
                let end = floor_char_boundary(src, span.end.min(src.len()));
                let start = floor_char_boundary(src, span.start);
                let text = &src[start..end];
                let first_line = text.split('\n').next().unwrap_or("");
                first_line.chars().count().max(1)
            } else {
                1
            };
            let caret = format!("{}{}", " ".repeat(location.col - 1), "^".repeat(width));
            (line.to_string(), caret)
        });
        Diagnostic { location, message: message.into(), snippet }
    }

    /// From a TOML error: keep its span, drop its own rendering, and say it our way.
    pub fn from_toml(file: &str, src: &str, err: &toml::de::Error) -> Self {
        Diagnostic::new(file, src, err.span(), tidy_toml_message(err.message()))
    }
}

/// TOML messages sometimes end in a newline or repeat the span; keep the sentence.
/// and Rust type names mean nothing to a spec author, so say them in TOML's words.
fn tidy_toml_message(msg: &str) -> String {
    let mut m = msg.trim().trim_end_matches('.').replace('\n', " ");
    for (rust, toml) in [
        ("expected u64", "expected a non-negative integer"),
        ("expected u32", "expected a non-negative integer"),
        ("expected u16", "expected a non-negative integer"),
        ("expected usize", "expected a non-negative integer"),
        ("expected i64", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ] {
        m = m.replace(rust, toml);
    }
    m
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)?;
        if let Some((line, caret)) = &self.snippet {
            let n = self.location.line.to_string();
            let pad = " ".repeat(n.len());
            write!(f, "\n{pad} |\n{n} | {line}\n{pad} | {caret}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_chars() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(Location::at("f", src, 0), Location { file: "f".into(), line: 1, col: 1 });
        let at = src.find("= 2").unwrap();
        assert_eq!(Location::at("f", src, at).line, 2);
        assert_eq!(Location::at("f", src, at).col, 4);
    }

    #[test]
    fn diagnostic_renders_caret_under_span() {
        let src = "id = 1\nkind = \"htp\"\n";
        let start = src.find("\"htp\"").unwrap();
        let d = Diagnostic::new("lab.toml", src, Some(start..start + 5), "unknown kind");
        let text = d.to_string();
        assert!(text.starts_with("lab.toml:2:8: unknown kind"), "{text}");
        assert!(text.contains("2 | kind = \"htp\""), "{text}");
        assert!(text.contains("|        ^^^^^"), "{text}");
    }
}
