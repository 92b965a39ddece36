//! Deserialisers for module parameters that take what people write:
//! scalars as text, durations as `30s` or seconds.

/// A scalar written where a string is expected (`argv: [sleep, 5]`):
/// numbers and booleans are taken as their text; anything else is an error
/// that says what was expected.
pub(crate) struct Scalar(pub String);

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Scalar(s)),
            Value::Bool(b) => Ok(Scalar(b.to_string())),
            Value::Number(n) => Ok(Scalar(match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i.to_string(),
                (None, Some(f)) => f.to_string(),
                _ => n.to_string(),
            })),
            other => Err(serde::de::Error::custom(format!(
                "expected text (or a number or true/false), found {}",
                match other {
                    Value::Null => "nothing (null)",
                    Value::Array(_) => "a list",
                    _ => "a mapping",
                }
            ))),
        }
    }
}

impl From<Scalar> for String {
    fn from(s: Scalar) -> String {
        s.0
    }
}

/// Deserialises a list of strings, taking numbers and booleans as their text.
pub fn string_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items: Vec<Scalar> = serde::Deserialize::deserialize(d)?;
    Ok(items.into_iter().map(String::from).collect())
}

/// [`string_list`] for an optional list.
pub fn opt_string_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    let items: Option<Vec<Scalar>> = serde::Deserialize::deserialize(d)?;
    Ok(items.map(|v| v.into_iter().map(String::from).collect()))
}

/// Deserialises a duration parameter: `30s`, `2m`, `24h` or a number of seconds.
pub fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        N(f64),
    }
    match <Raw as serde::Deserialize>::deserialize(d)? {
        Raw::N(n) if n >= 0.0 && n.is_finite() => Ok(std::time::Duration::from_secs_f64(n)),
        Raw::N(_) => Err(serde::de::Error::custom(
            "a duration must be a positive number of seconds",
        )),
        Raw::S(s) => crate::util::text::parse_duration_str(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not a duration such as 30s, 2m or 24h"))
        }),
    }
}

/// [`duration`] for an optional parameter.
pub fn opt_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    duration(d).map(Some)
}
