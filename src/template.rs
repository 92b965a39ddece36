//! Templating with minijinja: strict undefined (an undefined name is an
//! error naming it), no loader (templates cannot read files), bounded fuel
//! (templates cannot loop forever). A string that is exactly one `{{ expr }}`
//! evaluates to the expression's native value, so `timeout: "{{ t }}"` can be
//! a number and `that: "{{ list }}"` a list. Secrets are opaque: see
//! [`secret`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

mod compare;
mod errors;
mod scope;
mod secret;
mod view;

pub use errors::error_text;
pub use scope::{Iteration, Scope};
pub use secret::SecretValue;
pub use view::OutputView;

use minijinja::value::{Object, Value};
use minijinja::{Environment, UndefinedBehavior};

/// Instructions a single template or expression may execute.
const FUEL: u64 = 200_000;

pub struct Templates {
    env: Environment<'static>,
    /// Source → the source with its comparisons checked (see
    /// [`compare`]); `None` when there is nothing to rewrite.
    checked: Mutex<HashMap<String, Option<Arc<str>>>>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// Converts serialisable data into a template value.
pub fn to_value<T: serde::Serialize>(data: T) -> Value {
    Value::from(minijinja::value::Serde(data))
}

/// `base` (a scope) with `locals` in front: an expression such as
/// `failed_when: rc != 0` sees the command's `rc` and the playbook's names.
pub fn with_locals(base: &Value, locals: Vec<(&'static str, Value)>) -> Value {
    Value::from_object(Locals {
        base: base.clone(),
        locals,
    })
}

#[derive(Debug)]
struct Locals {
    base: Value,
    locals: Vec<(&'static str, Value)>,
}

impl Object for Locals {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        if let Some((_, v)) = self.locals.iter().find(|(k, _)| *k == name) {
            return Some(v.clone());
        }
        self.base.get_item(key).ok().filter(|v| !v.is_undefined())
    }
}

/// True when a string contains template syntax.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// The expression of a string that is exactly one `{{ expr }}`.
fn whole_expression(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim().trim_start_matches('-').trim_end_matches('-'))
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(64);
        env.add_function(compare::CHECKED, compare::checked_compare);
        Templates {
            env,
            checked: Mutex::default(),
        }
    }

    /// `src` with every comparison checked (a number against a string is
    /// an error), cached per source text.
    fn checked(&self, src: &str, expression: bool) -> Option<Arc<str>> {
        let mut cache = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = cache.get(src) {
            return hit.clone();
        }
        let rewritten = if expression {
            compare::rewrite_expr(src)
        } else {
            compare::rewrite_template(src)
        }
        .map(Arc::from);
        if cache.len() < 1_024 {
            cache.insert(src.to_string(), rewritten.clone());
        }
        rewritten
    }

    /// The engine's global functions (`range`, `dict`, `namespace`):
    /// templates may call them without defining them.
    pub fn global_names(&self) -> impl Iterator<Item = String> + '_ {
        self.env.globals().map(|(name, _)| name.to_string())
    }

    pub fn is_global(&self, name: &str) -> bool {
        self.env.globals().any(|(n, _)| n == name)
    }

    /// Renders a string template to a string.
    pub fn render_str(&self, src: &str, scope: &Value) -> Result<String, minijinja::Error> {
        if !is_template(src) {
            return Ok(src.to_string());
        }
        match self.checked(src, false) {
            Some(checked) => self.env.render_str(&checked, scope),
            None => self.env.render_str(src, scope),
        }
        .map_err(|e| in_source(e, src))
    }

    /// Evaluates an expression (as in `when:` or `assert.that`).
    pub fn eval(&self, expr: &str, scope: &Value) -> Result<Value, minijinja::Error> {
        let checked = self.checked(expr, true);
        let e = self
            .env
            .compile_expression(checked.as_deref().unwrap_or(expr))
            .map_err(|e| in_source(e, expr))?;
        let v = e.eval(scope).map_err(|e| in_source(e, expr))?;
        if v.is_undefined() {
            return Err(undefined_in(expr));
        }
        Ok(v)
    }

    pub fn eval_bool(&self, expr: &str, scope: &Value) -> Result<bool, minijinja::Error> {
        Ok(self.eval(expr, scope)?.is_true())
    }

    /// Renders every string in a JSON tree. A string that is one whole
    /// `{{ expr }}` becomes the expression's value.
    pub fn render_json(
        &self,
        v: &serde_json::Value,
        scope: &Value,
    ) -> Result<serde_json::Value, minijinja::Error> {
        use serde_json::Value as J;
        Ok(match v {
            J::String(s) if is_template(s) => match whole_expression(s) {
                Some(expr) => {
                    let (val, shown) = secret::shows_secret(|| self.eval(expr, scope));
                    let val = val?;
                    if shown && val.as_str().is_some() {
                        // Text made from a secret: a secret itself.
                        return secret::render_text(|| {
                            Ok(self
                                .eval(expr, scope)?
                                .as_str()
                                .unwrap_or_default()
                                .to_string())
                        });
                    }
                    secret::to_json(&val).map_err(|e| {
                        minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!("`{expr}`: {}", error_text(&e)),
                        )
                    })?
                }
                None => secret::render_text(|| self.render_str(s, scope))?,
            },
            J::Array(items) => J::Array(
                items
                    .iter()
                    .map(|i| self.render_json(i, scope))
                    .collect::<Result<_, _>>()?,
            ),
            J::Object(map) => J::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_json(v, scope)?)))
                    .collect::<Result<_, minijinja::Error>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Top-level names a template string refers to. Syntax errors are returned.
    pub fn template_names(&self, src: &str) -> Result<HashSet<String>, minijinja::Error> {
        if !is_template(src) {
            return Ok(HashSet::new());
        }
        let t = self.env.template_from_str(src).map_err(explain)?;
        Ok(t.undeclared_variables(false))
    }

    /// Top-level names an expression refers to, and `ns.attr` pairs for
    /// nested lookups. Syntax errors are returned.
    pub fn expression_names(&self, expr: &str) -> Result<HashSet<String>, minijinja::Error> {
        let e = self.env.compile_expression(expr).map_err(explain)?;
        Ok(e.undeclared_variables(true))
    }

    /// Names (top-level and dotted) referred to by a template string.
    pub fn nested_names(&self, src: &str) -> Result<HashSet<String>, minijinja::Error> {
        if !is_template(src) {
            return Ok(HashSet::new());
        }
        let t = self.env.template_from_str(src).map_err(explain)?;
        Ok(t.undeclared_variables(true))
    }
}

fn undefined_in(expr: &str) -> minijinja::Error {
    minijinja::Error::new(
        minijinja::ErrorKind::UndefinedError,
        format!("`{expr}` is undefined"),
    )
}

/// A hook for minijinja errors as they leave this module (kept as is;
/// [`error_text`] words them).
fn explain(e: minijinja::Error) -> minijinja::Error {
    e
}

/// An error of `original` (which may have run rewritten, see [`compare`]):
/// its snippet is kept as words, and no rewritten text reaches the user.
fn in_source(e: minijinja::Error, original: &str) -> minijinja::Error {
    let Some(ran) = e.template_source() else {
        return e;
    };
    if ran == original {
        return e;
    }
    let mut detail = e.detail().unwrap_or_default().to_string();
    if let Some(snippet) = e.range().and_then(|r| ran.get(r))
        && !snippet.contains(compare::CHECKED)
    {
        detail.push_str(&format!(" (at `{snippet}`)"));
    }
    detail.push_str(&format!(" in `{}`", original.trim()));
    minijinja::Error::new(e.kind(), detail)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use indexmap::IndexMap;

    use super::*;

    fn scope() -> Arc<Scope> {
        let mut vars = IndexMap::new();
        vars.insert("target".to_string(), Value::from("4.1.5"));
        vars.insert("n".to_string(), Value::from(3));
        let mut extra = IndexMap::new();
        extra.insert("n".to_string(), Value::from(5));
        let mut env = BTreeMap::new();
        env.insert("HOME".to_string(), "/root".to_string());
        Scope::new(vars, extra, env)
    }

    #[test]
    fn extra_vars_win_and_whole_expressions_are_native() {
        let t = Templates::new();
        let s = scope().value();
        let v = t
            .render_json(
                &serde_json::json!({"a": "{{ n }}", "b": "n={{ n }}", "c": "{{ target }}"}),
                &s,
            )
            .unwrap();
        assert_eq!(v, serde_json::json!({"a": 5, "b": "n=5", "c": "4.1.5"}));
    }

    #[test]
    fn undefined_names_are_errors_that_name_them() {
        let t = Templates::new();
        let s = scope().value();
        let e = t.render_str("x={{ nope }}", &s).unwrap_err();
        assert!(error_text(&e).contains("nope"), "{}", error_text(&e));
        let e = t.eval("env.NOPE_NOT_SET", &s).unwrap_err();
        assert!(
            error_text(&e).contains("NOPE_NOT_SET"),
            "{}",
            error_text(&e)
        );
        assert!(t.eval_bool("nope is defined", &s).is_ok_and(|b| !b));
    }

    #[test]
    fn steps_namespace_accepts_underscores_for_hyphens() {
        let t = Templates::new();
        let sc = scope();
        sc.set_output(
            "verify-version",
            Some("mke"),
            to_value(serde_json::json!({"version": "3.8.7"})),
        );
        let s = sc.value();
        assert_eq!(
            t.render_str("{{ steps.verify_version.version }}", &s)
                .unwrap(),
            "3.8.7"
        );
        assert_eq!(
            t.render_str("{{ steps['verify-version'].version }}", &s)
                .unwrap(),
            "3.8.7"
        );
        assert_eq!(t.render_str("{{ mke.version }}", &s).unwrap(), "3.8.7");
    }

    #[test]
    fn templates_cannot_loop_forever_or_read_files() {
        let t = Templates::new();
        let s = scope().value();
        assert!(
            t.render_str(
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
                &s
            )
            .is_err()
        );
        assert!(t.render_str("{% include '/etc/passwd' %}", &s).is_err());
    }

    #[test]
    fn hitting_a_limit_says_what_to_do() {
        let t = Templates::new();
        let s = scope().value();
        for (src, hint) in [
            ("{% import 'x.j2' as m %}", "templates cannot read files"),
            ("{{ 'x' * 1000000000 }}", "bounded amount of work"),
            (
                "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
                "64 deep",
            ),
            ("{% for i in range(10**9) %}{% endfor %}", "at most 100000"),
        ] {
            let e = t.render_str(src, &s).unwrap_err();
            assert!(error_text(&e).contains(hint), "{src}: {}", error_text(&e));
        }
        assert!(t.is_global("range") && !t.is_global("target"));
    }
}
