//! What templates see: playbook `vars`, `-e` extra vars (win over vars),
//! `env`, `steps.<id>` and registered names, `inventory`, and while a
//! looping step runs, `item` and `loop`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value};

/// The variables visible to templates: playbook `vars`, `-e` extra vars
/// (win over vars), `env`, `steps.<id>` and registered names, `inventory`.
#[derive(Debug, Default)]
pub struct Scope {
    pub vars: IndexMap<String, Value>,
    pub extra: IndexMap<String, Value>,
    pub env: Arc<BTreeMap<String, String>>,
    pub inventory: Value,
    steps: Mutex<IndexMap<String, Value>>,
    registered: Mutex<IndexMap<String, Value>>,
    /// `item` and `loop` while a looping step runs one of its items.
    iteration: Mutex<Option<(Value, Value)>>,
}

/// While it lives, templates see one loop item as `item` and `loop`.
pub struct Iteration<'s>(&'s Scope);

impl Drop for Iteration<'_> {
    fn drop(&mut self) {
        *self.0.iteration.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Scope {
    /// Makes `item` the current loop item (`index0` of `length`), with
    /// `loop.index` (from 1), `loop.index0`, `loop.first`, `loop.last` and
    /// `loop.length`, until the returned guard is dropped.
    pub fn enter_iteration(&self, item: Value, index0: usize, length: usize) -> Iteration<'_> {
        let info = minijinja::context! {
            index => index0 + 1,
            index0 => index0,
            first => index0 == 0,
            last => index0 + 1 == length,
            length => length,
        };
        let item = super::secret::protect(item, false);
        *self.iteration.lock().unwrap_or_else(|e| e.into_inner()) = Some((item, info));
        Iteration(self)
    }

    pub fn new(
        vars: IndexMap<String, Value>,
        extra: IndexMap<String, Value>,
        env: BTreeMap<String, String>,
    ) -> Arc<Scope> {
        Self::with_inventory(vars, extra, env, Value::UNDEFINED)
    }

    pub fn with_inventory(
        vars: IndexMap<String, Value>,
        extra: IndexMap<String, Value>,
        env: BTreeMap<String, String>,
        inventory: Value,
    ) -> Arc<Scope> {
        // Secret-named variables, and markers of secrets met again, become
        // opaque values here, whoever built the scope.
        let protect = |m: IndexMap<String, Value>| {
            m.into_iter()
                .map(|(k, v)| {
                    let v = super::secret::var_value(&k, v);
                    (k, v)
                })
                .collect()
        };
        Arc::new(Scope {
            vars: protect(vars),
            extra: protect(extra),
            env: Arc::new(env),
            inventory,
            steps: Mutex::default(),
            registered: Mutex::default(),
            iteration: Mutex::default(),
        })
    }

    /// Records the output of a finished step (and its `register` alias).
    pub fn set_output(&self, step: &str, register: Option<&str>, output: Value) {
        let output = super::secret::protect(output, false);
        if let Some(name) = register {
            self.registered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_string(), output.clone());
        }
        self.steps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(step.to_string(), output);
    }

    pub fn value(self: &Arc<Self>) -> Value {
        Value::from_dyn_object(self.clone())
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        match key {
            "env" => return Some(Value::from_object(EnvNs(self.env.clone()))),
            "steps" => return Some(Value::from_object(StepsNs(self.clone()))),
            "inventory" if !self.inventory.is_undefined() => return Some(self.inventory.clone()),
            "item" | "loop" => {
                let it = self.iteration.lock().unwrap_or_else(|e| e.into_inner());
                return it.as_ref().map(|(item, info)| {
                    if key == "item" {
                        item.clone()
                    } else {
                        info.clone()
                    }
                });
            }
            _ => {}
        }
        if let Some(v) = self.extra.get(key) {
            return Some(v.clone());
        }
        if let Some(v) = self
            .registered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
        {
            return Some(v.clone());
        }
        self.vars.get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<Value> = vec![Value::from("env"), Value::from("steps")];
        keys.extend(self.vars.keys().map(|k| Value::from(k.as_str())));
        keys.extend(self.extra.keys().map(|k| Value::from(k.as_str())));
        Enumerator::Values(keys)
    }
}

#[derive(Debug)]
struct EnvNs(Arc<BTreeMap<String, String>>);

impl Object for EnvNs {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        self.0.get(key).map(|v| super::secret::env_value(key, v))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.keys().map(|k| Value::from(k.as_str())).collect())
    }
}

#[derive(Debug)]
struct StepsNs(Arc<Scope>);

impl Object for StepsNs {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        let steps = self.0.steps.lock().unwrap_or_else(|e| e.into_inner());
        steps
            .get(key)
            .or_else(|| steps.get(&key.replace('_', "-")))
            .cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let steps = self.0.steps.lock().unwrap_or_else(|e| e.into_inner());
        Enumerator::Values(steps.keys().map(|k| Value::from(k.as_str())).collect())
    }
}
