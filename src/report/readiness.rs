//! The capstone's readiness summary in the terminal, in the shape the course page shows it:
//! `const serviceReadiness = { validatedConfig: true, … }`, each line with its evidence.

use super::human::{GREEN, RED, paint};
use crate::readiness::ReadinessLine;
use anstyle::Style;
use std::fmt::Write as _;

const DIM: Style = anstyle::Style::new().dimmed();

pub(crate) fn render(lines: &[ReadinessLine], color: bool) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let width = lines.iter().map(|l| l.key.chars().count()).max().unwrap_or(0);
    let mut s = String::from("  const serviceReadiness = {\n");
    for l in lines {
        let flag = if l.ready { paint(color, GREEN, "true,  ") } else { paint(color, RED, "false, ") };
        let pad = " ".repeat(width - l.key.chars().count());
        let mut why = format!("// {} ({}/{} checks)", l.title, l.passed, l.total);
        if !l.missing.is_empty() {
            let _ = write!(why, " — not passed: {}", l.missing.join(", "));
        }
        let _ = writeln!(s, "    {}:{pad} {flag}{}", l.key, paint(color, DIM, why));
    }
    s.push_str("  };\n\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_true_or_false_with_what_is_missing() {
        let line = |key: &str, ready: bool, missing: &[&str]| ReadinessLine {
            key: key.into(),
            title: "t".into(),
            ready,
            passed: 2 - missing.len(),
            total: 2,
            missing: missing.iter().map(|m| m.to_string()).collect(),
        };
        let text = render(&[line("telemetry", true, &[]), line("rollbackPlan", false, &["release-doc"])], false);
        assert!(text.contains("    telemetry:    true,  // t (2/2 checks)\n"), "{text}");
        assert!(text.contains("    rollbackPlan: false, // t (1/2 checks) — not passed: release-doc\n"), "{text}");
        assert!(render(&[], false).is_empty());
    }
}
