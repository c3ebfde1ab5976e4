//! Where lab specs are read from: the copy embedded in the binary (so a learner's edited copy
//! cannot weaken a lab), or a folder given with `--labs DIR` (for authors).

use include_dir::{Dir, include_dir};
use std::path::{Path, PathBuf};

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/labs");

#[derive(Debug, Clone)]
pub enum LabSource {
    Embedded,
    Dir(PathBuf),
}

impl LabSource {
    /// The text of `rel` (e.g. `01-runtime/lab.toml`), or None if there is no such file.
    pub fn read(&self, rel: &str) -> std::io::Result<Option<String>> {
        match self {
            LabSource::Embedded => Ok(EMBEDDED.get_file(rel).and_then(|f| f.contents_utf8()).map(str::to_string)),
            LabSource::Dir(dir) => match std::fs::read_to_string(dir.join(rel)) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// The name shown to users for `rel`: a real path for a folder, `labs/…` (embedded) otherwise.
    pub fn display(&self, rel: &str) -> String {
        match self {
            LabSource::Embedded => format!("labs/{rel}"),
            LabSource::Dir(dir) => dir.join(rel).display().to_string(),
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        match self {
            LabSource::Embedded => None,
            LabSource::Dir(d) => Some(d),
        }
    }
}
