//! A step's registered output as templates see it, without a copy: a view
//! into the shared JSON (the same the `step_end` event carries), turned
//! into template values only where a template reads it. A fan-out's
//! output for 1,000 hosts is then held once, not once more for templates.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};

use crate::model::Facts;

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

pub struct OutputView {
    root: Arc<Facts>,
    path: Vec<Seg>,
}

/// Never the output itself: it may hold secret markers.
impl std::fmt::Debug for OutputView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutputView({:?})", self.path)
    }
}

impl OutputView {
    /// The template value of a whole output.
    pub fn of(root: Arc<Facts>) -> Value {
        Value::from_object(OutputView {
            root,
            path: Vec::new(),
        })
    }

    /// The plain template value of what this view stands for (a copy).
    pub fn to_plain(&self) -> Value {
        match self.node() {
            Some(v) => super::to_value(v),
            None => super::to_value(&*self.root),
        }
    }

    /// The JSON this view stands for (`None` only for the root, a map).
    fn node(&self) -> Option<&serde_json::Value> {
        let mut segs = self.path.iter();
        let mut v = match segs.next()? {
            Seg::Key(k) => self.root.get(k)?,
            Seg::Index(_) => return None,
        };
        for seg in segs {
            v = match (seg, v) {
                (Seg::Key(k), serde_json::Value::Object(m)) => m.get(k)?,
                (Seg::Index(i), serde_json::Value::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(v)
    }

    /// The value at `seg` below this view: a view for a map or a list, the
    /// value itself for a scalar.
    fn child(&self, seg: Seg, v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                let mut path = self.path.clone();
                path.push(seg);
                Value::from_object(OutputView {
                    root: self.root.clone(),
                    path,
                })
            }
            // Secret markers become secrets, as `protect` does for values.
            scalar => super::secret::protect(super::to_value(scalar), false),
        }
    }
}

impl Object for OutputView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.node() {
            Some(serde_json::Value::Array(_)) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match self.node() {
            None => {
                let k = key.as_str()?;
                let v = self.root.get(k)?;
                Some(self.child(Seg::Key(k.to_string()), v))
            }
            Some(serde_json::Value::Object(m)) => {
                let k = key.as_str()?;
                let v = m.get(k)?;
                Some(self.child(Seg::Key(k.to_string()), v))
            }
            Some(serde_json::Value::Array(a)) => {
                let i = key.as_usize()?;
                let v = a.get(i)?;
                Some(self.child(Seg::Index(i), v))
            }
            Some(_) => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.node() {
            None => Enumerator::Values(self.root.keys().map(|k| Value::from(k.as_str())).collect()),
            Some(serde_json::Value::Object(m)) => {
                Enumerator::Values(m.keys().map(|k| Value::from(k.as_str())).collect())
            }
            Some(serde_json::Value::Array(a)) => Enumerator::Seq(a.len()),
            Some(_) => Enumerator::Empty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Templates;

    #[test]
    fn a_view_reads_like_the_value_it_views() {
        let out: Facts = serde_json::from_value(serde_json::json!({
            "hosts": {"10.0.0.1": {"cpus": 4, "ports": [22, 80], "ok": true}, "10.0.0.2": {"cpus": 2, "ports": [], "ok": false}},
            "ok": 1,
            "name": "x",
            "token": crate::util::secret::Secret::new("hunter2-view").marker(),
            "list": [{"t": crate::util::secret::Secret::new("hunter2-item").marker()}, 7],
        }))
        .unwrap();
        let view = OutputView::of(Arc::new(out.clone()));
        // What a template saw of an output before views: the value, its
        // secret markers made secrets.
        let plain = crate::template::secret::protect(crate::template::to_value(&out), false);
        let t = Templates::new();
        for expr in [
            "o.hosts['10.0.0.1'].cpus",
            "o.hosts['10.0.0.1'].ports[1]",
            "o.hosts | length",
            "o.hosts['10.0.0.1'].ports | length",
            "o.hosts | list",
            "o.hosts['10.0.0.2'].ports | list",
            "o.hosts['10.0.0.1'].ports | sum",
            "o.ok == 1 and o.name == 'x'",
            "o.hosts['10.0.0.1'] is mapping",
            "o.hosts['10.0.0.1'].ports is sequence",
            "o.hosts | dictsort | first | first",
            "o.hosts.values() | list",
            "o.hosts['10.0.0.1'].ports[-1]",
            "o.hosts['10.0.0.1'].ports[1:]",
            "o.hosts['10.0.0.1'].ports[::-1]",
            "o.token",
            "o.token | upper",
            "o.token[1:3]",
            "o.token ~ '-x'",
            "o.token | length",
            "o.list[0].t",
            "o.list | map(attribute='t') | list",
            "o.list[-2].t | replace('*', 'x')",
            "o | string",
            "o.list | tojson",
            "o.nothere is defined",
            "o.hosts['10.0.0.3'] is defined",
            "o | tojson",
            "o.hosts | items | list | length",
        ] {
            let ctx = |v: &Value| minijinja::context! { o => v.clone() };
            let a = t.eval(expr, &ctx(&view)).map(|v| v.to_string());
            let b = t.eval(expr, &ctx(&plain)).map(|v| v.to_string());
            match (a, b) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{expr}"),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("{expr}: view {a:?}, value {b:?}"),
            }
        }
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json, serde_json::to_value(&plain).unwrap());
        // Nothing of a secret in the view's output, in any spelling.
        for expr in [
            "o",
            "o.token",
            "o.list",
            "o | tojson",
            "o.token | list | join('|')",
        ] {
            let shown = t
                .eval(expr, &minijinja::context! { o => view.clone() })
                .map(|v| v.to_string())
                .unwrap_or_default();
            assert!(!shown.contains("hunter2"), "{expr}: {shown}");
            assert!(!shown.contains("2retnuh"), "{expr}: {shown}");
        }
        assert!(!format!("{view:?}").contains("hunter2"));
    }

    #[test]
    fn a_view_made_secret_is_secret_throughout() {
        let out: Facts =
            serde_json::from_value(serde_json::json!({"a": {"b": "plain-text"}, "n": 5})).unwrap();
        let v = crate::template::secret::protect(OutputView::of(Arc::new(out)), true);
        let t = Templates::new();
        for expr in ["v.a.b", "v.n", "v | tojson", "v.a.b | upper"] {
            let shown = t
                .eval(expr, &minijinja::context! { v => v.clone() })
                .map(|x| x.to_string())
                .unwrap_or_default();
            assert!(
                !shown.contains("plain-text") && !shown.contains('5'),
                "{expr}: {shown}"
            );
        }
    }
}
