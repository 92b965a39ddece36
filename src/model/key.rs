//! [`StepKey`]: the identity of one run of a step, everywhere (journal,
//! events, registers, resume): the step's id, plus the iteration for a step
//! with a `loop`, rendered `ID` or `ID[N]` (`N` is `loop.index`, from 1).

use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepKey {
    id: Arc<str>,
    /// `loop.index` (from 1) of a loop's iteration; `None` for a plain step.
    index: Option<usize>,
}

impl StepKey {
    /// The key of a step without a loop.
    pub fn step(id: impl Into<Arc<str>>) -> Self {
        StepKey {
            id: id.into(),
            index: None,
        }
    }

    /// The key of iteration `index` (from 1) of a looping step.
    pub fn iteration(id: impl Into<Arc<str>>, index: usize) -> Self {
        StepKey {
            id: id.into(),
            index: Some(index),
        }
    }

    /// The step's id (the same for every iteration).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// Parses `ID` or `ID[N]` (as written in the journal).
    pub fn parse(text: &str) -> Option<StepKey> {
        match text.strip_suffix(']').and_then(|t| t.rsplit_once('[')) {
            Some((id, n)) => {
                let index = n.parse::<usize>().ok().filter(|i| *i > 0)?;
                (!id.is_empty()).then(|| StepKey::iteration(id, index))
            }
            None => (!text.is_empty() && !text.contains('[')).then(|| StepKey::step(text)),
        }
    }
}

impl fmt::Display for StepKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "{}[{i}]", self.id),
            None => f.write_str(&self.id),
        }
    }
}

impl serde::Serialize for StepKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for StepKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        StepKey::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not a step key (`ID` or `ID[N]`)"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_parses_both_forms() {
        let plain = StepKey::step("migrate-kdd");
        assert_eq!(plain.to_string(), "migrate-kdd");
        assert_eq!(StepKey::parse("migrate-kdd"), Some(plain.clone()));
        let it = StepKey::iteration("ports", 3);
        assert_eq!(it.to_string(), "ports[3]");
        assert_eq!(StepKey::parse("ports[3]"), Some(it.clone()));
        assert_eq!(it.id(), "ports");
        for bad in ["", "x[0]", "x[]", "[1]", "x[a]", "x[1"] {
            assert_eq!(StepKey::parse(bad), None, "{bad}");
        }
        let json = serde_json::to_string(&it).unwrap();
        assert_eq!(json, "\"ports[3]\"");
        assert_eq!(serde_json::from_str::<StepKey>(&json).unwrap(), it);
    }
}
