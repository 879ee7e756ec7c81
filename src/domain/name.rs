//! The name a job pings with.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ParseError;

/// Longest accepted job name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// The name a job pings with: 1–200 bytes of UTF-8 without control characters.
///
/// Cheap to clone (shared), because the registry, the sweeper's heap and the outbox all
/// hold it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobName(Arc<str>);

impl JobName {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.is_empty() {
            return Err(ParseError::EmptyName);
        }
        if raw.len() > MAX_NAME_BYTES {
            return Err(ParseError::NameTooLong(raw.len()));
        }
        if raw.chars().any(char::is_control) {
            return Err(ParseError::NameControlChar);
        }
        Ok(Self(Arc::from(raw)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for JobName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for JobName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for JobName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        JobName::parse(&raw).map_err(serde::de::Error::custom)
    }
}
