//! The terminal view: a header per lab, one line per check with the evidence of anything that
//! did not pass, and a criteria/score summary. Report text goes to stdout (colour stripped when
//! stdout is not a terminal); the live progress bar goes to stderr and is suspended around every
//! write so the two never interleave.
//!
//! Rendering lives in pure functions returning `String`, so it is tested without a terminal.

use crate::checks::{Evidence, Verdict};
use crate::events::{CheckRecord, Event, LabReport, PartialRun, Progress, Reporter, StepRecord, Unit};
use anstream::{AutoStream, ColorChoice};
use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressStyle};
use similar::{ChangeTag, TextDiff};
use std::fmt::{Display, Write as _};
use std::io::Write as _;
use std::time::{Duration, Instant};

/// Check ids are padded to this width so durations line up.
const ID_WIDTH: usize = 24;
/// At most this many diff lines unless verbose.
const DIFF_MAX_LINES: usize = 40;
/// At most this many trailing output lines unless verbose.
const OUTPUT_MAX_LINES: usize = 20;
/// Lines around each change in a diff.
const DIFF_CONTEXT: usize = 3;
/// Criterion texts longer than this are cut with `…` in the summary table.
const CRITERION_TEXT_MAX: usize = 60;
/// The details block under a check line.
const INDENT: &str = "      ";

const CURL_NOTE: &str = "curl lines use $LABGRADE_TOKEN: export LABGRADE_TOKEN=$(labgrade token)";

pub(super) const GREEN: Style = AnsiColor::Green.on_default();
pub(super) const RED: Style = AnsiColor::Red.on_default();
pub(super) const YELLOW: Style = AnsiColor::Yellow.on_default();
const CYAN: Style = AnsiColor::Cyan.on_default();
pub(super) const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

/// The human terminal reporter.
pub struct HumanReporter {
    color: bool,
    live: bool,
    verbose: bool,
    out: AutoStream<std::io::Stdout>,
    bar: Option<ProgressBar>,
    /// A `reproduce:` curl line was shown for the current lab.
    curl_shown: bool,
    labs_finished: usize,
    /// The last text written ended in a blank line.
    ends_blank: bool,
    /// The lab running now runs only some of its checks.
    partial: Option<Box<PartialRun>>,
    /// Where `grade` is: `lab 3/10 `, the bar's prefix.
    track_pos: String,
    /// When a plain progress line (stderr not a terminal) was last written.
    plain_at: Option<Instant>,
}

/// Without a terminal, a long piece of work says how far it is at most this often (and not
/// at all when it ends sooner).
const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl HumanReporter {
    /// `color`: colour is allowed (pass `false` for `NO_COLOR` / `--color never`); it is still
    /// only used when anstream's auto-detection says stdout can show it.
    /// `live`: stderr is a terminal — show a progress bar there while checks run.
    /// `verbose`: also show the message and evidence of passing checks, and do not cut long
    /// diffs or output.
    pub fn new(color: bool, live: bool, verbose: bool) -> Self {
        let stdout = std::io::stdout();
        let choice = if color { AutoStream::choice(&stdout) } else { ColorChoice::Never };
        let out = AutoStream::new(stdout, choice);
        HumanReporter {
            color: choice != ColorChoice::Never,
            live,
            verbose,
            out,
            bar: None,
            curl_shown: false,
            labs_finished: 0,
            ends_blank: false,
            partial: None,
            track_pos: String::new(),
            plain_at: None,
        }
    }

    /// Progress: the bar's message on a terminal; else an occasional plain line on stderr.
    fn progress(&mut self, p: &Progress) {
        if p.unit == Unit::Labs {
            self.track_pos = format!("lab {}/{} ", p.done, p.total.unwrap_or(0));
        }
        if self.live {
            if let Some(bar) = &self.bar {
                bar.set_message(p.line());
            }
            return;
        }
        let due = match p.unit {
            Unit::Labs | Unit::Faults => true,
            Unit::Rows | Unit::Requests => {
                p.elapsed >= PLAIN_EVERY && self.plain_at.is_none_or(|t| t.elapsed() >= PLAIN_EVERY)
            }
        };
        if due {
            self.plain_at = Some(Instant::now());
            let line = format!("labgrade: {}\n", p.line());
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(line.as_bytes());
        }
    }

    /// Write report text to stdout, with the progress bar (if any) hidden meanwhile. Never
    /// writes two blank lines in a row across calls.
    fn emit(&mut self, text: &str) {
        let text = if self.ends_blank { text.strip_prefix('\n').unwrap_or(text) } else { text };
        if text.is_empty() {
            return;
        }
        self.ends_blank = text == "\n" || text.ends_with("\n\n");
        let out = &mut self.out;
        let mut write = || {
            // A closed stdout (e.g. piped into `head`) must not abort the run.
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        };
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    fn start_bar(&mut self, checks: usize) {
        let template = if self.color {
            "{spinner:.cyan} {prefix}[{bar:24.cyan/blue}] {pos}/{len} {wide_msg}"
        } else {
            "{spinner} {prefix}[{bar:24}] {pos}/{len} {wide_msg}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::new(checks as u64).with_style(style).with_prefix(self.track_pos.clone());
        bar.enable_steady_tick(Duration::from_millis(100));
        self.bar = Some(bar);
    }

    fn stop_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Reporter for HumanReporter {
    fn on_event(&mut self, event: &Event) {
        match event {
            Event::LabStarted { lab, title, checks, target } => {
                self.stop_bar();
                self.curl_shown = false;
                let mut text = String::new();
                if self.labs_finished > 0 {
                    text.push('\n');
                }
                text.push_str(&render_header(lab, title, *checks, target, self.color));
                if let Some(p) = &self.partial {
                    text.push_str(&render_partial(p, self.color));
                }
                self.emit(&text);
                if self.live {
                    self.start_bar(*checks);
                }
            }
            Event::Service { message } => {
                let text = render_service(message, self.color);
                self.emit(&text);
            }
            Event::CheckStarted { id, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(id.clone());
                }
            }
            Event::CheckFinished(rec) => {
                if shows_details(rec, self.verbose)
                    && rec.outcome.evidence.iter().any(|e| matches!(e, Evidence::Curl { .. }))
                {
                    self.curl_shown = true;
                }
                let text = render_check(rec, self.color, self.verbose);
                self.emit(&text);
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
            }
            Event::StepFinished(step) => {
                let text = render_step(step, self.color, self.verbose);
                self.emit(&text);
            }
            Event::Progress(p) => self.progress(p),
            Event::Partial(p) => self.partial = Some(p.clone()),
            Event::Interrupted => {
                self.partial = None;
                self.stop_bar();
                self.emit("\ninterrupted — the service and everything it started were stopped; the checks above are all that ran\n");
            }
            Event::TrackFinished(t) => {
                self.stop_bar();
                self.emit(&format!("\n{}", super::status::render(&t.track, &t.progress, self.color)));
            }
            Event::LabFinished(report) => {
                self.stop_bar();
                let mut text = match self.partial.take() {
                    Some(_) => render_partial_summary(report, self.color),
                    None => render_summary(report, self.color),
                };
                if self.curl_shown {
                    text.push_str(&render_curl_note(self.color));
                    self.curl_shown = false;
                }
                self.labs_finished += 1;
                self.emit(&text);
            }
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.stop_bar();
        self.out.flush()
    }
}

impl Drop for HumanReporter {
    /// An interrupted run must not leave a half-drawn bar on the terminal.
    fn drop(&mut self) {
        self.stop_bar();
    }
}

/// `text` in `style`, or plain when colour is off.
pub(super) fn paint(color: bool, style: Style, text: impl Display) -> String {
    if color && !style.is_plain() { format!("{style}{text}{style:#}") } else { text.to_string() }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `12 ms` below a second, `3.2 s` above.
fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 { format!("{ms} ms") } else { format!("{:.1} s", d.as_secs_f64()) }
}

/// `80` for whole numbers, `80.5` otherwise.
fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x:.0}") } else { format!("{x:.1}") }
}

/// Cut `s` to `max` characters, ending in `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// `labgrade · 01-runtime — Title` and `target: … · N checks`.
pub(crate) fn render_header(lab: &str, title: &str, checks: usize, target: &str, color: bool) -> String {
    format!(
        "{}\n{}\n",
        paint(color, BOLD, format_args!("labgrade · {lab} — {title}")),
        paint(color, DIM, format_args!("target: {target} · {}", plural(checks, "check", "checks"))),
    )
}

/// A dim `  · message` line about the service under test.
pub(crate) fn render_service(message: &str, color: bool) -> String {
    let mut s = String::new();
    for line in message.lines() {
        let _ = writeln!(s, "{}", paint(color, DIM, format_args!("  · {line}")));
    }
    s
}

/// A setup step: one dim line when it worked; its message, evidence and location when not.
pub(crate) fn render_step(step: &StepRecord, color: bool, verbose: bool) -> String {
    let head = format!("{} {}: {} ({})", step.kind, step.id, step.outcome.message, fmt_duration(step.duration));
    if step.outcome.verdict == Verdict::Pass {
        let mut s = render_service(&head, color);
        if verbose {
            for e in &step.outcome.evidence {
                s.push_str(&render_service(&render_evidence(e, false, verbose).join("\n"), color));
            }
        }
        return s;
    }
    let style = if step.outcome.verdict == Verdict::Fail { RED } else { YELLOW };
    let mut s = format!("  {} {}\n", paint(color, style, "✗"), paint(color, style, format_args!("step {head}")));
    let mut details: Vec<String> = Vec::new();
    for e in &step.outcome.evidence {
        details.extend(render_evidence(e, color, verbose));
    }
    details.push("the checks after it that need the service or the database are not judged".into());
    details.push(paint(color, DIM, format_args!("defined at: {}", step.location)));
    for line in details {
        let _ = writeln!(s, "      {line}");
    }
    s
}

/// Whether a check gets a details block under its line.
fn shows_details(rec: &CheckRecord, verbose: bool) -> bool {
    rec.outcome.verdict != Verdict::Pass
        || (verbose && (!rec.outcome.message.is_empty() || !rec.outcome.evidence.is_empty()))
}

/// One check: `  ✓ id   12 ms`, and for anything but a pass the message, evidence, hint,
/// doc link and where the check is defined.
pub(crate) fn render_check(rec: &CheckRecord, color: bool, verbose: bool) -> String {
    let (glyph, style) = match rec.outcome.verdict {
        Verdict::Pass => ("✓", GREEN),
        Verdict::Fail => ("✗", RED),
        Verdict::Error => ("!", YELLOW),
        Verdict::Skipped => ("-", DIM),
    };
    let mut s = format!("  {} {:<ID_WIDTH$}", paint(color, style, glyph), rec.id);
    if rec.outcome.verdict != Verdict::Skipped {
        let _ = write!(s, " {}", paint(color, DIM, format_args!("{:>7}", fmt_duration(rec.duration))));
    }
    if rec.blocking && rec.outcome.verdict != Verdict::Pass {
        let _ = write!(s, "  {}", paint(color, DIM, "(blocking)"));
    }
    let mut s = s.trim_end().to_string();
    s.push('\n');

    if !shows_details(rec, verbose) {
        return s;
    }
    let mut details: Vec<String> = Vec::new();
    details.extend(rec.outcome.message.lines().map(str::to_string));
    for e in &rec.outcome.evidence {
        details.extend(render_evidence(e, color, verbose));
    }
    if rec.outcome.verdict != Verdict::Pass {
        if !rec.hint.is_empty() {
            let mut hint = rec.hint.lines();
            if let Some(first) = hint.next() {
                details.push(format!("{} {first}", paint(color, CYAN, "hint:")));
            }
            details.extend(hint.map(|l| format!("      {l}")));
        }
        if !rec.doc.is_empty() {
            details.push(format!("{} {}", paint(color, CYAN, "read:"), rec.doc));
        }
        details.push(paint(color, DIM, format_args!("defined at: {}", rec.location)));
    }
    for line in details {
        if line.is_empty() {
            s.push('\n');
        } else {
            let _ = writeln!(s, "{INDENT}{line}");
        }
    }
    s.push('\n');
    s
}

/// Evidence as plain text lines, whole (for reports that are not a terminal).
pub fn evidence_text(e: &Evidence) -> Vec<String> {
    render_evidence(e, false, true)
}

/// One piece of evidence as lines (without the block indent).
fn render_evidence(e: &Evidence, color: bool, verbose: bool) -> Vec<String> {
    match e {
        Evidence::Diff { label, expected, actual } => {
            let max = if verbose { usize::MAX } else { DIFF_MAX_LINES };
            let mut lines = vec![format!("{label} (- expected, + actual):")];
            lines.extend(render_diff(expected, actual, color, max));
            lines
        }
        Evidence::Assert { what, expected, actual } => {
            vec![format!("{what}: expected {expected}, got {}", paint(color, RED, actual))]
        }
        Evidence::Curl { line } => vec![format!("{} {line}", paint(color, DIM, "reproduce:"))],
        Evidence::Latency { samples, p50_ms, p95_ms, p99_ms, max_ms, limit_ms, background } => {
            render_latency(*samples, [*p50_ms, *p95_ms, *p99_ms, *max_ms], *limit_ms, background, color)
        }
        Evidence::Output { label, lines } => {
            let max = if verbose { usize::MAX } else { OUTPUT_MAX_LINES };
            let mut out = vec![format!("{label}:")];
            let bar = paint(color, DIM, "│");
            if lines.is_empty() {
                out.push(format!("{bar} {}", paint(color, DIM, "(no output)")));
            }
            let skip = lines.len().saturating_sub(max);
            if skip > 0 {
                out.push(format!(
                    "{bar} {}",
                    paint(color, DIM, format_args!("… {skip} earlier {}", if skip == 1 { "line" } else { "lines" }))
                ));
            }
            out.extend(lines[skip..].iter().map(|l| format!("{bar} {l}")));
            out
        }
        Evidence::Note { text } => text.lines().map(str::to_string).collect(),
        Evidence::Grid { rows, cols, cells } => render_grid(rows, cols, cells, color),
        Evidence::Memory { samples_kib, growth_kib, limit_kib } => {
            let mib = |k: u64| k as f64 / 1024.0;
            let (lo, hi) =
                (samples_kib.iter().min().copied().unwrap_or(0), samples_kib.iter().max().copied().unwrap_or(0));
            let over = growth_kib > limit_kib;
            let line = format!(
                "memory {} baseline {:.0} MiB, peak {:.0} MiB, growth {:.1} MiB (limit {:.0} MiB)",
                sparkline(samples_kib, 40),
                mib(samples_kib.first().copied().unwrap_or(lo)),
                mib(hi),
                mib(*growth_kib),
                mib(*limit_kib)
            );
            vec![if over { paint(color, RED, line) } else { line }]
        }
        Evidence::At { file, line, col } => vec![format!("{} {file}:{line}:{col}", paint(color, DIM, "at:"))],
        Evidence::Upstream { env, calls } => super::charts::upstream(env, calls, color),
        Evidence::Distribution(d) => super::charts::distribution(d, color),
        Evidence::Plan { dialect, lines, offending } => {
            let mut out = vec![format!("plan ({dialect}):")];
            for (i, l) in lines.iter().enumerate() {
                if Some(i) == *offending {
                    out.push(format!("{} {}", paint(color, RED, "▶"), paint(color, RED, l)));
                } else {
                    out.push(format!("  {l}"));
                }
            }
            out
        }
    }
}

/// Samples as a one-line chart of at most `width` bars (each bar the peak of its slice).
fn sparkline(samples: &[u64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if samples.is_empty() {
        return String::new();
    }
    let (lo, hi) = (*samples.iter().min().unwrap_or(&0), *samples.iter().max().unwrap_or(&0));
    let per = samples.len().div_ceil(width.max(1));
    samples
        .chunks(per)
        .map(|c| {
            let v = *c.iter().max().unwrap_or(&lo);
            let i = if hi == lo { 0 } else { ((v - lo) * 7 / (hi - lo)) as usize };
            BARS[i.min(7)]
        })
        .collect()
}

/// A matrix as an aligned table: a right cell shows its status, a wrong one `✗ got (want)`.
fn render_grid(rows: &[String], cols: &[String], cells: &[Vec<crate::checks::GridCell>], color: bool) -> Vec<String> {
    let label_w = rows.iter().map(|r| r.chars().count()).max().unwrap_or(0);
    let text = |c: &crate::checks::GridCell| {
        if c.ok { c.actual.clone() } else { format!("✗ {} (want {})", c.actual, c.expected) }
    };
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(j, name)| {
            cells
                .iter()
                .filter_map(|row| row.get(j))
                .map(|c| text(c).chars().count())
                .chain([name.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    let mut out = vec![format!(
        "{}  {}",
        pad("", label_w),
        cols.iter().zip(&widths).map(|(c, w)| pad(c, *w)).collect::<Vec<_>>().join("  ")
    )];
    for (label, row) in rows.iter().zip(cells) {
        let line = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let t = pad(&text(c), *w);
                if c.ok { paint(color, DIM, t) } else { paint(color, RED, t) }
            })
            .collect::<Vec<_>>()
            .join("  ");
        out.push(format!("{}  {line}", pad(label, label_w)));
    }
    out
}

/// A unified line diff of `expected` → `actual`: changed lines with `- `/`+ `, a few lines of
/// context with two spaces, hunks separated by `⋯`, at most `max` lines.
fn render_diff(expected: &str, actual: &str, color: bool, max: usize) -> Vec<String> {
    let diff = TextDiff::from_lines(expected, actual);
    let newline_differs = expected.ends_with('\n') != actual.ends_with('\n');
    let mut body = Vec::new();
    for (i, group) in diff.grouped_ops(DIFF_CONTEXT).iter().enumerate() {
        if i > 0 {
            body.push(paint(color, DIM, "⋯"));
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let value = change.to_string_lossy();
                let text = value.strip_suffix('\n').unwrap_or(&value);
                let text = text.strip_suffix('\r').unwrap_or(text);
                let (sign, style) = match change.tag() {
                    ChangeTag::Delete => ("-", RED),
                    ChangeTag::Insert => ("+", GREEN),
                    ChangeTag::Equal => (" ", DIM),
                };
                body.push(paint(color, style, format_args!("{sign} {text}")).trim_end().to_string());
                if newline_differs && change.tag() != ChangeTag::Equal && change.missing_newline() {
                    body.push(paint(color, DIM, "\\ no newline at end"));
                }
            }
        }
    }
    if body.is_empty() {
        body.push(paint(color, DIM, "(no line differs)"));
    }
    if body.len() > max {
        let more = body.len() - max;
        body.truncate(max);
        body.push(paint(color, DIM, format_args!("… {more} more {}", if more == 1 { "line" } else { "lines" })));
    }
    body
}

/// `latency over N requests: p50 … · p95 … (limit …) · p99 … · max …`, a bar of p95 against
/// the limit, and what ran in the background meanwhile.
fn render_latency(
    samples: u64,
    [p50, p95, p99, max]: [f64; 4],
    limit: f64,
    background: &str,
    color: bool,
) -> Vec<String> {
    let has_limit = limit.is_finite() && limit > 0.0;
    let over = has_limit && p95 > limit;
    let p95_text = paint(color, if over { RED } else { GREEN }, format_args!("p95 {p95:.1} ms"));
    let limit_text = if has_limit { format!(" (limit {} ms)", fmt_num(limit)) } else { String::new() };
    let requests = if samples == 1 { "request" } else { "requests" };
    let mut lines = vec![format!(
        "latency over {samples} {requests}: p50 {p50:.1} ms · {p95_text}{limit_text} · p99 {p99:.1} ms · max {max:.1} ms"
    )];
    if has_limit && p95.is_finite() {
        lines.push(latency_bar(p95, limit, color));
    }
    if !background.is_empty() {
        lines.push(format!("while: {background}"));
    }
    lines
}

/// `p95 ▕██████████│███       ▏ 1.3× limit`: the limit sits mid-bar, the bar spans 0–2× limit.
fn latency_bar(p95: f64, limit: f64, color: bool) -> String {
    const HALF: usize = 10;
    let ratio = p95 / limit;
    let filled = ((ratio * HALF as f64).round().max(0.0) as usize).min(2 * HALF);
    let cells =
        |range: std::ops::Range<usize>| -> String { range.map(|i| if i < filled { '█' } else { ' ' }).collect() };
    let style = if ratio > 1.0 { RED } else { GREEN };
    format!(
        "p95 ▕{}│{}▏ {ratio:.1}× limit",
        paint(color, style, cells(0..HALF)),
        paint(color, style, cells(HALF..2 * HALF)),
    )
}

/// The end of a lab: criteria table, score line, required checks that blocked the pass, and
/// the verdict counts.
pub(crate) fn render_summary(report: &LabReport, color: bool) -> String {
    let score = &report.score;
    let mut s = String::from("\n");

    let width = score.criteria.iter().map(|c| c.text.chars().count()).max().unwrap_or(0).min(CRITERION_TEXT_MAX);
    for c in &score.criteria {
        let style = if c.score >= 100.0 {
            GREEN
        } else if c.score > 0.0 {
            YELLOW
        } else {
            RED
        };
        let text = truncate(&c.text, width);
        let pad = " ".repeat(width - text.chars().count());
        let _ = writeln!(
            s,
            "  {}  {text}{pad}  {}",
            paint(color, style, format_args!("{:>5.1}", c.score)),
            paint(color, DIM, format_args!("({}/{})", c.passed_checks, plural(c.checks, "check", "checks"))),
        );
    }
    if !score.criteria.is_empty() {
        s.push('\n');
    }

    let verdict =
        if score.passed { paint(color, GREEN.bold(), "PASSED") } else { paint(color, RED.bold(), "NOT PASSED") };
    let _ = writeln!(
        s,
        "{} · pass mark {} · {verdict}",
        paint(color, BOLD, format_args!("score {:.1} / 100", score.score)),
        fmt_num(score.pass_mark),
    );
    if !score.failed_blocking.is_empty() {
        let _ = writeln!(
            s,
            "{}",
            paint(
                color,
                RED,
                format_args!(
                    "blocking check(s) not passed: {} — the lab cannot pass without them",
                    score.failed_blocking.join(", ")
                ),
            )
        );
    }

    let count = |v: Verdict| report.checks.iter().filter(|c| c.outcome.verdict == v).count();
    let part = |n: usize, word: &str, style: Style| {
        let text = format!("{n} {word}");
        if n > 0 { paint(color, style, text) } else { text }
    };
    let _ = writeln!(
        s,
        "{}, {}, {}, {} in {}",
        part(count(Verdict::Pass), "passed", GREEN),
        part(count(Verdict::Fail), "failed", RED),
        part(count(Verdict::Error), "error", YELLOW),
        part(count(Verdict::Skipped), "skipped", DIM),
        fmt_duration(report.duration),
    );
    // A run that did not pass can be replayed with the same generated inputs.
    if !score.passed && report.seed != 0 {
        let number = report.lab.split_once('-').map_or(report.lab.as_str(), |(n, _)| n);
        let _ = writeln!(
            s,
            "{}",
            paint(
                color,
                DIM,
                format_args!(
                    "seed {} — replay these inputs: labgrade check {number} --seed {}",
                    report.seed, report.seed
                )
            )
        );
    }
    // The capstone's report ends with the readiness summary, as the course page does.
    if !report.readiness.is_empty() {
        s.push('\n');
        s.push_str(&super::readiness::render(&report.readiness, color));
    }
    s
}

/// Shown once after a lab's summary when any `reproduce:` curl line was printed.
/// Under the header of a partial run: what it runs and why each added check runs.
pub(crate) fn render_partial(p: &PartialRun, color: bool) -> String {
    let runs = p.requested.len() + p.added.len();
    let mut head = format!("partial run ({}): {} of {}", p.asked, runs, plural(p.of, "check", "checks"));
    if !p.steps.is_empty() {
        let _ = write!(head, ", with step(s) {}", p.steps.join(", "));
    }
    head.push_str("; not a grade, and not counted as an attempt");
    let mut s = format!("{}\n", paint(color, YELLOW, head));
    for (id, why) in &p.added {
        let _ = writeln!(s, "{}", paint(color, DIM, format_args!("  + {id} also runs: {why}")));
    }
    s
}

/// The end of a partial run: what passed, and that the lab's grade needs a whole run.
pub(crate) fn render_partial_summary(report: &LabReport, color: bool) -> String {
    let count = |v: Verdict| report.checks.iter().filter(|c| c.outcome.verdict == v).count();
    let part = |n: usize, word: &str, style: Style| {
        let text = format!("{n} {word}");
        if n > 0 { paint(color, style, text) } else { text }
    };
    let mut s = format!(
        "\n{}: {}, {}, {}, {} in {}\n",
        paint(color, BOLD, "partial run"),
        part(count(Verdict::Pass), "passed", GREEN),
        part(count(Verdict::Fail), "failed", RED),
        part(count(Verdict::Error), "error", YELLOW),
        part(count(Verdict::Skipped), "skipped", DIM),
        fmt_duration(report.duration),
    );
    let number = report.lab.split_once('-').map_or(report.lab.as_str(), |(n, _)| n);
    let _ = writeln!(
        s,
        "{}",
        paint(
            color,
            DIM,
            format_args!("not a grade: `labgrade check {number}` grades the whole lab (and counts as an attempt)")
        )
    );
    s
}

pub(crate) fn render_curl_note(color: bool) -> String {
    format!("{}\n", paint(color, DIM, CURL_NOTE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;
    use crate::score::{CriterionScore, LabScore};
    use crate::spec::Location;

    fn rec(id: &str, outcome: Outcome) -> CheckRecord {
        CheckRecord {
            id: id.into(),
            kind: "http".into(),
            criterion: "runtime".into(),
            blocking: false,
            hint: "return 200 from /healthz".into(),
            doc: "https://example.test/labs/01#health".into(),
            location: Location { file: "01-runtime/lab.toml".into(), line: 14, col: 1 },
            outcome,
            duration: Duration::from_millis(12),
        }
    }

    fn lines(s: &str) -> Vec<&str> {
        s.lines().collect()
    }

    #[test]
    fn pass_is_one_line() {
        let s = render_check(&rec("healthz-ok", Outcome::pass("200 OK")), false, false);
        assert_eq!(lines(&s), [format!("  ✓ {:<ID_WIDTH$}   12 ms", "healthz-ok")]);
    }

    #[test]
    fn verbose_pass_shows_its_message() {
        let s = render_check(&rec("healthz-ok", Outcome::pass("200 OK")), false, true);
        assert!(lines(&s).contains(&"      200 OK"), "{s}");
        assert!(!s.contains("hint:"), "{s}");
    }

    #[test]
    fn fail_shows_details_block() {
        let mut r = rec(
            "healthz-ok",
            Outcome::fail("status was 500")
                .with(Evidence::Curl { line: "curl -sS http://127.0.0.1:3000/healthz".into() }),
        );
        r.blocking = true;
        let s = render_check(&r, false, false);
        let l = lines(&s);
        assert!(l[0].starts_with("  ✗ healthz-ok "), "{s}");
        assert!(l[0].ends_with("12 ms  (blocking)"), "{s}");
        assert_eq!(l[1], "      status was 500");
        assert_eq!(l[2], "      reproduce: curl -sS http://127.0.0.1:3000/healthz");
        assert_eq!(l[3], "      hint: return 200 from /healthz");
        assert_eq!(l[4], "      read: https://example.test/labs/01#health");
        assert_eq!(l[5], "      defined at: 01-runtime/lab.toml:14:1");
    }

    #[test]
    fn error_and_skipped_glyphs() {
        let s = render_check(&rec("e", Outcome::error("connection refused")), false, false);
        assert!(s.starts_with("  ! e "), "{s}");
        let s = render_check(&rec("s", Outcome::skipped("needs a token")), false, false);
        assert!(s.starts_with("  - s\n"), "{s}");
        assert!(s.contains("      needs a token\n"), "{s}");
    }

    #[test]
    fn diff_shows_changed_lines_with_context() {
        let expected = "{\n  \"ok\": true,\n  \"a\": 1,\n  \"b\": 2\n}\n";
        let actual = "{\n  \"ok\": false,\n  \"a\": 1,\n  \"b\": 2\n}\n";
        let r = rec(
            "body",
            Outcome::fail("body differs").with(Evidence::Diff {
                label: "body".into(),
                expected: expected.into(),
                actual: actual.into(),
            }),
        );
        let s = render_check(&r, false, false);
        let l = lines(&s);
        let at = l.iter().position(|x| *x == "      body (- expected, + actual):").expect(&s);
        assert_eq!(
            &l[at + 1..at + 7],
            [
                "        {",
                "      -   \"ok\": true,",
                "      +   \"ok\": false,",
                "          \"a\": 1,",
                "          \"b\": 2",
                "        }",
            ]
        );
    }

    #[test]
    fn diff_is_capped() {
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let out = render_diff(&expected, "", false, DIFF_MAX_LINES);
        assert_eq!(out.len(), DIFF_MAX_LINES + 1);
        assert_eq!(out[0], "- line 0");
        assert_eq!(out[DIFF_MAX_LINES], "… 60 more lines");
        assert_eq!(render_diff(&expected, "", false, usize::MAX).len(), 100);
    }

    #[test]
    fn diff_marks_a_missing_final_newline() {
        let out = render_diff("a\n", "a", false, 40);
        assert_eq!(out, ["- a", "+ a", "\\ no newline at end"]);
    }

    #[test]
    fn assert_note_and_output_evidence() {
        let r = rec(
            "x",
            Outcome::fail("bad")
                .with(Evidence::Assert { what: "status".into(), expected: "200".into(), actual: "500".into() })
                .with(Evidence::Note { text: "the service restarted".into() })
                .with(Evidence::Output {
                    label: "service log".into(),
                    lines: (1..=25).map(|i| format!("log {i}")).collect(),
                }),
        );
        let s = render_check(&r, false, false);
        assert!(s.contains("      status: expected 200, got 500\n"), "{s}");
        assert!(s.contains("      the service restarted\n"), "{s}");
        assert!(s.contains("      service log:\n      │ … 5 earlier lines\n      │ log 6\n"), "{s}");
        assert!(s.contains("      │ log 25\n"), "{s}");
        assert!(!s.contains("│ log 5\n"), "{s}");
    }

    #[test]
    fn latency_evidence() {
        let r = rec(
            "p95",
            Outcome::fail("too slow").with(Evidence::Latency {
                samples: 200,
                p50_ms: 1.2,
                p95_ms: 130.4,
                p99_ms: 140.0,
                max_ms: 201.5,
                limit_ms: 50.0,
                background: "a CPU-heavy request every 10 ms".into(),
            }),
        );
        let s = render_check(&r, false, false);
        assert!(
            s.contains("      latency over 200 requests: p50 1.2 ms · p95 130.4 ms (limit 50 ms) · p99 140.0 ms · max 201.5 ms\n"),
            "{s}"
        );
        assert!(s.contains("      p95 ▕██████████│██████████▏ 2.6× limit\n"), "{s}");
        assert!(s.contains("      while: a CPU-heavy request every 10 ms\n"), "{s}");
        // Coloured, p95 is red when above the limit.
        let c = render_check(&r, true, false);
        assert!(c.contains(&format!("{RED}p95 130.4 ms{RED:#}")), "{c}");
    }

    #[test]
    fn header_and_service_lines() {
        let h = render_header("01-runtime", "Node Runtime", 7, "http://127.0.0.1:3000", false);
        assert_eq!(h, "labgrade · 01-runtime — Node Runtime\ntarget: http://127.0.0.1:3000 · 7 checks\n");
        assert_eq!(render_service("service ready", false), "  · service ready\n");
    }

    fn report(passed: bool) -> LabReport {
        LabReport {
            lab: "01-runtime".into(),
            title: "Node Runtime".into(),
            score: LabScore {
                score: if passed { 85.7 } else { 50.0 },
                passed,
                pass_mark: 80.0,
                criteria: vec![
                    CriterionScore {
                        id: "a".into(),
                        text: "The runtime model is explained".into(),
                        score: 100.0,
                        passed_checks: 2,
                        checks: 2,
                    },
                    CriterionScore { id: "b".into(), text: "Health".into(), score: 0.0, passed_checks: 0, checks: 1 },
                ],
                failed_blocking: if passed { vec![] } else { vec!["healthz-ok".into(), "ready".into()] },
            },
            steps: vec![],
            checks: vec![
                rec("a", Outcome::pass("")),
                rec("b", Outcome::pass("")),
                rec("c", Outcome::fail("")),
                rec("d", Outcome::error("")),
                rec("e", Outcome::skipped("")),
            ],
            duration: Duration::from_millis(3240),
            target: "http://127.0.0.1:3000".into(),
            spec_sha256: String::new(),
            readiness: Vec::new(),
            seed: 0,
        }
    }

    #[test]
    fn summary_not_passed() {
        let s = render_summary(&report(false), false);
        assert_eq!(
            lines(&s),
            [
                "",
                "  100.0  The runtime model is explained  (2/2 checks)",
                "    0.0  Health                          (0/1 check)",
                "",
                "score 50.0 / 100 · pass mark 80 · NOT PASSED",
                "blocking check(s) not passed: healthz-ok, ready — the lab cannot pass without them",
                "2 passed, 1 failed, 1 error, 1 skipped in 3.2 s",
            ]
        );
    }

    #[test]
    fn summary_passed() {
        let s = render_summary(&report(true), false);
        assert!(s.contains("score 85.7 / 100 · pass mark 80 · PASSED\n"), "{s}");
        assert!(!s.contains("blocking check(s)"), "{s}");
        let c = render_summary(&report(true), true);
        assert!(c.contains(&format!("{}PASSED{:#}", GREEN.bold(), GREEN.bold())), "{c}");
    }

    #[test]
    fn long_criterion_text_is_cut() {
        let mut r = report(true);
        r.score.criteria[0].text = "x".repeat(100);
        let s = render_summary(&r, false);
        assert!(s.contains(&format!("  100.0  {}…  (2/2 checks)", "x".repeat(CRITERION_TEXT_MAX - 1))), "{s}");
    }

    #[test]
    fn curl_note_text() {
        assert_eq!(render_curl_note(false), format!("{CURL_NOTE}\n"));
    }

    #[test]
    fn grid_marks_wrong_cells_and_aligns_columns() {
        use crate::checks::GridCell;
        let cell = |actual: &str, expected: &str, ok| GridCell { expected: expected.into(), actual: actual.into(), ok };
        let lines = render_evidence(
            &Evidence::Grid {
                rows: vec!["GET /a".into(), "DELETE /invoices/{id}".into()],
                cols: vec!["anonymous".into(), "owner".into()],
                cells: vec![
                    vec![cell("401", "401", true), cell("200", "allowed", true)],
                    vec![cell("204", "401", false), cell("404", "allowed", true)],
                ],
            },
            false,
            false,
        );
        assert_eq!(
            lines,
            vec![
                "                       anonymous         owner",
                "GET /a                 401               200  ",
                "DELETE /invoices/{id}  ✗ 204 (want 401)  404  ",
            ]
        );
    }
}
