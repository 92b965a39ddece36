//! What the cluster holds besides nodes: Swarm services (`GET /services`),
//! accounts (`GET /accounts`, eNZi), containers (`GET /containers/json`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{first_string, str_at, string_at};

/// A Swarm service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: String,
    /// `Spec.Name`.
    pub name: String,
    /// `replicated`, `global` (or the job modes); empty when not given.
    pub mode: String,
    /// The image of `Spec.TaskTemplate.ContainerSpec.Image`, digest cut off.
    pub image: Option<String>,
    pub labels: BTreeMap<String, String>,
}

impl Service {
    pub fn from_json(v: &Value) -> Service {
        let mode = v
            .pointer("/Spec/Mode")
            .and_then(Value::as_object)
            .and_then(|m| m.keys().next().cloned())
            .map(|m| m.to_ascii_lowercase())
            .unwrap_or_default();
        Service {
            id: first_string(v, &["ID", "Id"]).unwrap_or_default(),
            name: string_at(v, &["Spec", "Name"]).unwrap_or_default(),
            mode,
            image: str_at(v, &["Spec", "TaskTemplate", "ContainerSpec", "Image"])
                .map(|i| i.split('@').next().unwrap_or(i).to_string()),
            labels: labels(v.pointer("/Spec/Labels")),
        }
    }
}

/// An eNZi account of `GET /accounts` (terraform-provider-mke's fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub is_org: bool,
    pub is_admin: bool,
    pub is_active: bool,
    /// Synced from LDAP (its password lives there).
    pub is_imported: bool,
}

impl Account {
    pub fn from_json(v: &Value) -> Account {
        let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        Account {
            name: first_string(v, &["name", "Name"]).unwrap_or_default(),
            is_org: flag("isOrg"),
            is_admin: flag("isAdmin"),
            is_active: v.get("isActive").and_then(Value::as_bool).unwrap_or(true),
            is_imported: flag("isImported"),
        }
    }
}

/// One page of `GET /accounts`: the accounts and where the next page
/// starts (empty when this is the last).
pub fn parse_accounts(v: &Value) -> Option<(Vec<Account>, String)> {
    let list = match v {
        Value::Array(a) => a,
        Value::Object(_) => v.get("accounts")?.as_array()?,
        _ => return None,
    };
    let next = v
        .get("nextPageStart")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Some((list.iter().map(Account::from_json).collect(), next))
}

/// A container of `GET /containers/json` (on MKE: every node's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
}

impl Container {
    pub fn from_json(v: &Value) -> Container {
        let name = v
            .get("Names")
            .and_then(Value::as_array)
            .and_then(|n| n.first())
            .and_then(Value::as_str)
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        Container {
            name,
            image: string_at(v, &["Image"]).unwrap_or_default(),
            labels: labels(v.get("Labels")),
        }
    }
}

fn labels(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn services_accounts_and_containers_are_read_leniently() {
        let s = Service::from_json(&json!({
            "ID": "s1", "Spec": {"Name": "web", "Mode": {"Replicated": {"Replicas": 2}},
            "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1.27@sha256:abc"}},
            "Labels": {"com.docker.stack.namespace": "shop"}}
        }));
        assert_eq!((s.name.as_str(), s.mode.as_str()), ("web", "replicated"));
        assert_eq!(s.image.as_deref(), Some("nginx:1.27"));
        assert_eq!(s.labels["com.docker.stack.namespace"], "shop");
        assert_eq!(Service::from_json(&json!({})).name, "");

        let page = json!({"usersCount": 2, "nextPageStart": "bob", "accounts": [
            {"name": "admin", "isAdmin": true, "isActive": true},
            {"name": "ldap-user", "isImported": true}]});
        let (accounts, next) = parse_accounts(&page).unwrap();
        assert_eq!(next, "bob");
        assert!(accounts[0].is_admin && accounts[1].is_imported && accounts[1].is_active);
        assert_eq!(parse_accounts(&json!([{"name": "x"}])).unwrap().1, "");
        assert!(parse_accounts(&json!("nope")).is_none());

        let c = Container::from_json(
            &json!({"Names": ["/node-1/k8s_cert-manager_x"], "Image": "quay.io/jetstack/cert-manager-controller:v1.14.4",
            "Labels": {"io.kubernetes.pod.namespace": "cert-manager"}}),
        );
        assert_eq!(c.name, "k8s_cert-manager_x");
        assert_eq!(c.labels["io.kubernetes.pod.namespace"], "cert-manager");
    }
}
