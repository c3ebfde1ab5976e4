//! Typed deserialization that keeps source positions: the document is parsed once into a
//! spanned tree, and each part is deserialized from its own subtree so that an error inside
//! a check points at the key that is wrong, not at the whole file.

use super::diag::Diagnostic;
use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A parsed TOML document with its file name, for located errors.
pub struct Doc<'i> {
    pub file: String,
    pub src: &'i str,
}

impl<'i> Doc<'i> {
    pub fn new(file: impl Into<String>, src: &'i str) -> Self {
        Doc { file: file.into(), src }
    }

    pub fn parse(&self) -> Result<Spanned<DeTable<'i>>, Diagnostic> {
        DeTable::parse(self.src).map_err(|e| self.toml_err(&e))
    }

    pub fn toml_err(&self, e: &toml::de::Error) -> Diagnostic {
        Diagnostic::from_toml(&self.file, self.src, e)
    }

    pub fn err(&self, span: std::ops::Range<usize>, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.file, self.src, Some(span), msg)
    }

    /// Deserialize `T` from one spanned value; errors keep their position.
    pub fn value<T: DeserializeOwned>(&self, v: Spanned<DeValue<'i>>) -> Result<T, Diagnostic> {
        let span = v.span();
        T::deserialize(v.into_deserializer()).map_err(|e: toml::de::Error| {
            let mut d = self.toml_err(&e);
            if e.span().is_none() {
                d = self.err(span, e.message().trim().to_string());
            }
            d
        })
    }

    /// Deserialize `T` from a table built of some of another table's entries.
    pub fn table<T: DeserializeOwned>(
        &self,
        table: DeTable<'i>,
        span: std::ops::Range<usize>,
    ) -> Result<T, Diagnostic> {
        self.value(Spanned::new(span, DeValue::Table(table)))
    }
}

/// Split a table into (entries whose key is in `keys`, the rest).
pub fn split_table<'i>(table: DeTable<'i>, keys: &[&str]) -> (DeTable<'i>, DeTable<'i>) {
    let mut picked = DeTable::new();
    let mut rest = DeTable::new();
    for (k, v) in table {
        if keys.contains(&k.get_ref().as_ref()) {
            picked.insert(k, v);
        } else {
            rest.insert(k, v);
        }
    }
    (picked, rest)
}

/// The key's span and the string value of `key` in `table`, if it is a string.
pub fn string_entry<'i>(table: &DeTable<'i>, key: &str) -> Option<(std::ops::Range<usize>, String)> {
    table.iter().find(|(k, _)| k.get_ref().as_ref() == key).and_then(|(_, v)| match v.get_ref() {
        DeValue::String(s) => Some((v.span(), s.to_string())),
        _ => None,
    })
}
