//! `labgrade lab lint`: check lab specs without running them, and report every mistake at
//! once, each as `file:line:col: message` with the source line, a caret and what was
//! expected. Pure over a lab's text and a [`Files`] view of its folder; [`lint_path`] is the
//! file-system front.

pub mod assessment;
pub mod includes;
pub mod lab;
pub mod schemas;
pub mod suggest;
pub mod templates;

use crate::spec::{Diagnostic, Lab, LabSource, Track};
use std::path::{Path, PathBuf};

/// What a lab's lint may read besides the spec itself.
pub trait Files {
    /// A file of the lab's folder (`schemas/problem.json`); Ok(None) when it does not exist.
    fn read(&self, rel: &str) -> std::io::Result<Option<String>>;
    /// That file's path as shown to the author.
    fn display(&self, rel: &str) -> String;
    /// The checks and steps of another lab of the same labs folder; None when there is no
    /// such lab.
    fn lab_ids(&self, lab: &str) -> Option<LabIds>;
    /// The labs (folders with a lab.toml) of the labs folder.
    fn labs(&self) -> Vec<String>;
}

/// What another lab defines, as far as an `[[include]]` of it needs.
#[derive(Debug, Clone, Default)]
pub struct LabIds {
    /// Check ids, each with the names it captures.
    pub checks: Vec<(String, Vec<String>)>,
    /// Step ids, each with the names it captures.
    pub steps: Vec<(String, Vec<String>)>,
    /// It has `[[include]]`s itself.
    pub includes: bool,
}

impl LabIds {
    /// Read them from a lab's text (leniently: a lab that does not parse defines nothing).
    pub fn of(text: &str) -> LabIds {
        let table: toml::Table = toml::from_str(text).unwrap_or_default();
        let items = |key: &str| -> Vec<(String, Vec<String>)> {
            table
                .get(key)
                .and_then(|c| c.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|c| {
                            let id = c.get("id")?.as_str()?.to_string();
                            let caps = c
                                .get("capture")
                                .and_then(|t| t.as_table())
                                .map(|t| t.keys().cloned().collect())
                                .unwrap_or_default();
                            Some((id, caps))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        LabIds { checks: items("check"), steps: items("step"), includes: table.contains_key("include") }
    }
}

/// A lab folder on disk, inside its labs folder.
pub struct Folder {
    pub lab_dir: PathBuf,
    pub labs_dir: PathBuf,
}

impl Files for Folder {
    fn read(&self, rel: &str) -> std::io::Result<Option<String>> {
        match std::fs::read_to_string(self.lab_dir.join(rel)) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn display(&self, rel: &str) -> String {
        self.lab_dir.join(rel).display().to_string()
    }

    fn lab_ids(&self, lab: &str) -> Option<LabIds> {
        if lab.is_empty() || lab.contains(['/', '\\']) || lab.starts_with('.') {
            return None;
        }
        let text = std::fs::read_to_string(self.labs_dir.join(lab).join("lab.toml")).ok()?;
        Some(LabIds::of(&text))
    }

    fn labs(&self) -> Vec<String> {
        lab_folders(&self.labs_dir)
    }
}

/// The subfolders of `labs_dir` that hold a lab.toml, sorted.
pub fn lab_folders(labs_dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(labs_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("lab.toml").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

/// The outcome of linting some files.
#[derive(Debug, Default)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
    /// Spec files read.
    pub files: usize,
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") }
}

impl Report {
    pub fn files_with_errors(&self) -> usize {
        let mut files: Vec<&str> = self.diagnostics.iter().map(|d| d.location.file.as_str()).collect();
        files.sort();
        files.dedup();
        files.len()
    }

    /// Every diagnostic, a blank line after each, and the count.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            out.push_str(&format!("{d}\n\n"));
        }
        if self.diagnostics.is_empty() {
            out.push_str(&format!("{} checked: no errors\n", plural(self.files, "file")));
        } else {
            out.push_str(&format!(
                "{} in {}\n",
                plural(self.diagnostics.len(), "error"),
                plural(self.files_with_errors(), "file")
            ));
        }
        out
    }
}

/// Lint what `path` names: a labs folder (with track.toml: the track and every lab folder in
/// it), one lab folder, or one lab.toml. Err: the path is none of these.
pub fn lint_path(path: &Path) -> Result<Report, String> {
    let mut report = Report::default();
    if path.is_dir() && path.join("track.toml").is_file() {
        let track = path.join("track.toml");
        let src = std::fs::read_to_string(&track).map_err(|e| format!("cannot read {}: {e}", track.display()))?;
        report.files += 1;
        let parsed = Track::parse(&track.display().to_string(), &src);
        if let Err(d) = &parsed {
            report.diagnostics.push(Diagnostic { message: suggest::enrich(&d.message, &[]), ..d.clone() });
        }
        let folders = lab_folders(path);
        for folder in &folders {
            lint_folder(&path.join(folder), &mut report)?;
        }
        if let Ok(Track { assessment: Some(assessment), .. }) = &parsed {
            let labs: Vec<(String, String)> = folders
                .iter()
                .filter_map(|f| std::fs::read_to_string(path.join(f).join("lab.toml")).ok().map(|t| (f.clone(), t)))
                .collect();
            let at = src.find(&format!("\"{assessment}\"")).unwrap_or(0);
            for missing in assessment::gaps(assessment, &labs) {
                report.diagnostics.push(Diagnostic {
                    location: crate::spec::Location::at(&track.display().to_string(), &src, at),
                    message: format!(
                        "the assessment lab {assessment} does not re-run the blocking check {missing}; add it to one of its [[include]]s (a certificate must not outlive a regression in it)"
                    ),
                    snippet: None,
                });
            }
        }
        return Ok(report);
    }
    let lab_dir = if path.is_dir() {
        path.to_path_buf()
    } else if path.file_name().is_some_and(|f| f == "lab.toml") && path.is_file() {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    } else {
        return Err(format!(
            "{} is not a labs folder (with track.toml), a lab folder (with lab.toml) or a lab.toml",
            path.display()
        ));
    };
    if !lab_dir.join("lab.toml").is_file() {
        return Err(format!(
            "{} has neither track.toml nor lab.toml; expected a labs folder, a lab folder or a lab.toml",
            lab_dir.display()
        ));
    }
    lint_folder(&lab_dir, &mut report)?;
    Ok(report)
}

/// Lint one lab folder's lab.toml into `report`.
fn lint_folder(lab_dir: &Path, report: &mut Report) -> Result<(), String> {
    let canonical = std::fs::canonicalize(lab_dir).map_err(|e| format!("cannot read {}: {e}", lab_dir.display()))?;
    let folder = canonical.file_name().and_then(|f| f.to_str()).unwrap_or_default().to_string();
    let labs_dir = match lab_dir.parent() {
        Some(p) if lab_dir.file_name().is_some() => p.to_path_buf(),
        _ => canonical.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let file = lab_dir.join("lab.toml");
    let src = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    report.files += 1;
    let files = Folder { lab_dir: lab_dir.to_path_buf(), labs_dir: labs_dir.clone() };
    let found = lab::lint_lab(&file.display().to_string(), &src, &folder, &files);
    if found.is_empty() {
        // Whatever the grader itself would refuse, lint must not pass.
        let source = LabSource::Dir(labs_dir);
        let result = Lab::parse(&source, &format!("{folder}/lab.toml"), &src).and_then(|mut lab| {
            lab.expand(|other| {
                let rel = format!("{other}/lab.toml");
                let text = source.read(&rel).ok().flatten().ok_or_else(|| {
                    Diagnostic::new(
                        &file.display().to_string(),
                        &src,
                        None,
                        format!("cannot read {}", source.display(&rel)),
                    )
                })?;
                Lab::parse(&source, &rel, &text)
            })
        });
        if let Err(d) = result {
            report.diagnostics.push(d);
        }
    }
    report.diagnostics.extend(found);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_counts_errors_and_files() {
        let d = |file: &str| Diagnostic::new(file, "a = 1\n", Some(0..1), "bad");
        let r = Report { diagnostics: vec![d("a.toml"), d("a.toml"), d("b.toml")], files: 3 };
        assert!(r.render().starts_with("a.toml:1:1: bad\n  |\n1 | a = 1\n  | ^\n\n"), "{}", r.render());
        assert!(r.render().ends_with("  | ^\n\n3 errors in 2 files\n"), "{}", r.render());
        let r = Report { diagnostics: vec![], files: 1 };
        assert_eq!(r.render(), "1 file checked: no errors\n");
    }

    #[test]
    fn the_shipped_labs_are_clean() {
        let labs = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs");
        let r = lint_path(&labs).unwrap();
        assert!(r.diagnostics.is_empty(), "{}", r.render());
        assert!(r.files >= 10);
    }

    #[test]
    fn a_path_that_is_no_spec_is_refused() {
        let e = lint_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path()).unwrap_err();
        assert!(e.contains("neither track.toml nor lab.toml"), "{e}");
    }
}
