//! Secrets in templates are opaque, the way Terraform propagates
//! `sensitive`: a secret value is a [`SecretValue`], whose text is the mask.
//! Every filter, test, slice, concatenation or comparison therefore works
//! on the mask (`{{ env.MKE_PASSWORD | upper }}` is `********`), and no
//! expression can derive anything of the value.
//!
//! The value reaches a module only when a parameter is exactly the secret
//! (`env: {PGPASSWORD: "{{ env.DB_PASSWORD }}"}`): rendering turns it into
//! a marker ([`Secret::marker`]) that only a parameter typed `Secret` or
//! `MaybeSecret` resolves; anywhere else the marker is text that every
//! sink masks.
//!
//! Text a template renders with a secret in it is itself a secret, as in
//! Terraform: `"Bearer {{ env.API_TOKEN }}"` is rendered once more with the
//! real value and becomes a secret of its own (see [`render_text`]).
//!
//! Secret values are: environment variables whose names say secret
//! ([`is_secret_name`]), every value inside a playbook or `-e` variable
//! whose name says secret, and any marker met again (a variable or a
//! step's output that held a secret).

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, Value, ValueKind};

use crate::util::secret::{MASK, Secret, is_secret_name};

/// A secret inside a template: renders, serialises and compares as the mask.
pub struct SecretValue(Secret);

impl SecretValue {
    pub fn value(secret: Secret) -> Value {
        Value::from_object(SecretValue(secret))
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Object for SecretValue {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn is_true(self: &Arc<Self>) -> bool {
        !self.0.is_empty()
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SHOWN.set(SHOWN.get() + 1);
        if REVEAL.get() {
            f.write_str(self.0.expose())
        } else {
            f.write_str(MASK)
        }
    }
}

thread_local! {
    /// Set only while [`render_text`] renders text with the real values.
    static REVEAL: Cell<bool> = const { Cell::new(false) };
    /// How many times a secret was written into text on this thread.
    static SHOWN: Cell<usize> = const { Cell::new(0) };
}

/// Clears [`REVEAL`] however the render ends.
struct Revealing;

impl Revealing {
    fn start() -> Revealing {
        REVEAL.set(true);
        Revealing
    }
}

impl Drop for Revealing {
    fn drop(&mut self) {
        REVEAL.set(false);
    }
}

/// Renders text (`render` is the same rendering, called once or twice).
/// Text that holds no secret is returned as it is. Text that does is a
/// secret itself: it is rendered again with the real values and returned
/// as the marker of that new secret — so it reaches a command's `env`
/// whole, is refused on a command line, and reads anywhere else as the
/// text with its secrets masked (`token ********`). A failure of that second rendering is reported without its
/// detail, which could quote the value.
pub fn render_text(
    render: impl Fn() -> Result<String, minijinja::Error>,
) -> Result<serde_json::Value, minijinja::Error> {
    let before = SHOWN.get();
    let text = render()?;
    if SHOWN.get() == before {
        return Ok(serde_json::Value::String(text));
    }
    let real = {
        let _reveal = Revealing::start();
        render()
    };
    match real {
        Ok(real) => Ok(serde_json::Value::String(Secret::derived_marker(
            real, text,
        ))),
        Err(e) => Err(minijinja::Error::new(
            e.kind(),
            "a template holding a secret failed when rendered with the secret's value (details withheld: they could quote it)",
        )),
    }
}

/// Whether evaluating `f` wrote a secret into text (a whole expression
/// such as `{{ env.TOKEN ~ '-x' }}`).
pub fn shows_secret<T>(f: impl FnOnce() -> T) -> (T, bool) {
    let before = SHOWN.get();
    let out = f();
    (out, SHOWN.get() != before)
}

/// The template value of environment variable `name`.
pub fn env_value(name: &str, value: &str) -> Value {
    if is_secret_name(name) {
        SecretValue::value(Secret::new(value))
    } else {
        protect(Value::from(value), false)
    }
}

/// The template value of variable `name` (playbook `vars`, `-e`).
pub fn var_value(name: &str, value: Value) -> Value {
    protect(value, is_secret_name(name))
}

/// Makes secrets opaque inside `v`: markers become the secrets they name,
/// and when `secret`, every text and number becomes a secret.
pub fn protect(v: Value, secret: bool) -> Value {
    // A view of an output protects what is read from it; to make all of
    // it secret, it becomes a plain value first.
    if let Some(view) = v.downcast_object_ref::<super::OutputView>() {
        return if secret {
            protect(view.to_plain(), true)
        } else {
            v
        };
    }
    match v.kind() {
        ValueKind::String => {
            let text = v.as_str().unwrap_or_default();
            match Secret::from_marker(text) {
                Some(s) => SecretValue::value(s),
                None if secret => SecretValue::value(Secret::new(text)),
                None => v,
            }
        }
        ValueKind::Number if secret => SecretValue::value(Secret::new(v.to_string())),
        ValueKind::Seq => match v.try_iter() {
            Ok(items) => items.map(|i| protect(i, secret)).collect(),
            Err(_) => v,
        },
        ValueKind::Map if v.downcast_object_ref::<SecretValue>().is_none() => {
            let Ok(keys) = v.try_iter() else {
                return v;
            };
            let map: indexmap::IndexMap<Value, Value> = keys
                .map(|k| {
                    let item = v.get_item(&k).unwrap_or_default();
                    (k, protect(item, secret))
                })
                .collect();
            Value::from_object(map)
        }
        _ => v,
    }
}

/// Converts a template value to JSON, a secret becoming its marker.
pub fn to_json(v: &Value) -> Result<serde_json::Value, minijinja::Error> {
    use serde_json::Value as J;
    if let Some(s) = v.downcast_object_ref::<SecretValue>() {
        return Ok(J::String(s.0.marker()));
    }
    Ok(match v.kind() {
        ValueKind::Undefined | ValueKind::None => J::Null,
        ValueKind::String => J::String(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq | ValueKind::Iterable => J::Array(
            v.try_iter()?
                .map(|i| to_json(&i))
                .collect::<Result<_, _>>()?,
        ),
        ValueKind::Map => {
            let mut map = serde_json::Map::new();
            for k in v.try_iter()? {
                let item = v.get_item(&k)?;
                let key = match k.as_str() {
                    Some(s) => s.to_string(),
                    None => k.to_string(),
                };
                map.insert(key, to_json(&item)?);
            }
            J::Object(map)
        }
        _ => serde_json::to_value(v).map_err(|e| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("a value that is not data: {e}"),
            )
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Scope, Templates, to_value};
    use indexmap::IndexMap;
    use std::collections::BTreeMap;

    #[test]
    fn secrets_render_as_the_mask_and_reach_json_as_markers() {
        let mut env = BTreeMap::new();
        env.insert("APP_TOKEN".to_string(), "tok-unit-7731".to_string());
        env.insert("HOME".to_string(), "/root".to_string());
        let mut vars = IndexMap::new();
        vars.insert(
            "db_password".to_string(),
            to_value(serde_json::json!({"k": "var-unit-8842", "n": 12345})),
        );
        let scope = Scope::new(vars, IndexMap::new(), env).value();
        let t = Templates::new();
        assert_eq!(
            t.render_str(
                "{{ env.APP_TOKEN | upper }} {{ db_password.k }} {{ env.HOME }}",
                &scope
            )
            .unwrap(),
            "******** ******** /root"
        );
        let json = t
            .render_json(
                &serde_json::json!({"e": "{{ env.APP_TOKEN }}", "l": "{{ [db_password.n] }}"}),
                &scope,
            )
            .unwrap();
        let e = json["e"].as_str().unwrap();
        assert_eq!(Secret::from_marker(e).unwrap().expose(), "tok-unit-7731");
        let n = json["l"][0].as_str().unwrap();
        assert_eq!(Secret::from_marker(n).unwrap().expose(), "12345");
        // A marker met again (a step's output) is the secret once more.
        let sc = Scope::new(IndexMap::new(), IndexMap::new(), BTreeMap::new());
        sc.set_output("s", None, to_value(serde_json::json!({"msg": e})));
        assert_eq!(
            t.render_str("{{ steps.s.msg | lower }}", &sc.value())
                .unwrap(),
            MASK
        );
    }
}
