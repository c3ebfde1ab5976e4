//! Specs: the track, its labs and their checks, parsed into typed structures that carry
//! their source position.

pub mod de;
pub mod diag;
pub mod lab;
pub mod source;
pub mod track;

pub use diag::{Diagnostic, Location};
pub use lab::{Check, Criterion, Lab};
pub use source::LabSource;
pub use track::Track;

use crate::error::Error;

/// The track and a way to load its labs.
pub struct Catalog {
    pub source: LabSource,
    pub track: Track,
}

/// What the catalog knows of one lab.
pub enum LabEntry {
    Written(Box<Lab>),
    /// In the track, but its spec is not written yet.
    NotWritten,
}

impl Catalog {
    pub fn open(source: LabSource) -> Result<Catalog, Error> {
        let rel = "track.toml";
        let src = source
            .read(rel)
            .map_err(|e| Error::Usage(format!("cannot read {}: {e}", source.display(rel))))?
            .ok_or_else(|| Error::Usage(format!("{} does not exist", source.display(rel))))?;
        let track = Track::parse(&source.display(rel), &src).map_err(Error::Spec)?;
        Ok(Catalog { source, track })
    }

    pub fn load(&self, lab_id: &str) -> Result<LabEntry, Error> {
        let rel = format!("{lab_id}/lab.toml");
        let src = self
            .source
            .read(&rel)
            .map_err(|e| Error::Usage(format!("cannot read {}: {e}", self.source.display(&rel))))?;
        match src {
            None => Ok(LabEntry::NotWritten),
            Some(src) => {
                let mut lab = Lab::parse(&self.source, &rel, &src).map_err(Error::Spec)?;
                let source = &self.source;
                lab.expand(|other| {
                    let rel = format!("{other}/lab.toml");
                    let text = source.read(&rel).ok().flatten().ok_or_else(|| Diagnostic {
                        location: Location { file: source.display(&rel), line: 1, col: 1 },
                        message: format!(
                            "included lab {other:?} has no spec ({} cannot be read)",
                            source.display(&rel)
                        ),
                        snippet: None,
                    })?;
                    Lab::parse(source, &rel, &text)
                })
                .map_err(Error::Spec)?;
                if lab.id != lab_id {
                    return Err(Error::Spec(Diagnostic::new(
                        &self.source.display(&rel),
                        &src,
                        src.find(&lab.id).map(|i| i..i + lab.id.len()),
                        format!("lab id {:?} does not match its folder {lab_id:?}", lab.id),
                    )));
                }
                Ok(LabEntry::Written(Box::new(lab)))
            }
        }
    }

    /// Resolve a user's lab argument, or a usage error listing what exists.
    pub fn resolve(&self, wanted: &str) -> Result<&track::TrackLab, Error> {
        self.track.resolve(wanted).ok_or_else(|| {
            let ids: Vec<_> = self.track.labs.iter().map(|l| l.id.as_str()).collect();
            Error::Usage(format!(
                "no lab {wanted:?} in this track; expected a number 1–{} or one of: {}",
                ids.len(),
                ids.join(", ")
            ))
        })
    }
}
