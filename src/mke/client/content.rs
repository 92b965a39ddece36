//! What the cluster holds: Swarm services, accounts, containers.

use serde_json::Value;

use super::transport::Request;
use super::{MkeClient, bad_body};
use crate::mke::MkeError;
use crate::mke::model::{Account, Container, Service, parse_accounts};

/// Pages of `GET /accounts` read at most (a bound on a misbehaving server).
const MAX_ACCOUNT_PAGES: usize = 1000;
const ACCOUNTS_PER_PAGE: &str = "500";

impl MkeClient {
    /// `GET /services`: the Swarm services (MKE's own included).
    pub async fn services(&self) -> Result<Vec<Service>, MkeError> {
        let (endpoint, json) = self.get_json(&["services"]).await?;
        match json {
            Value::Array(list) => Ok(list.iter().map(Service::from_json).collect()),
            Value::Null => Ok(Vec::new()),
            other => Err(bad_body(
                endpoint,
                "expected a JSON list of services",
                &other,
            )),
        }
    }

    /// `GET /containers/json`: the running containers (MKE answers for
    /// every node; Kubernetes pods' containers carry `io.kubernetes.*`
    /// labels).
    pub async fn containers(&self) -> Result<Vec<Container>, MkeError> {
        let (endpoint, json) = self.get_json(&["containers", "json"]).await?;
        match json {
            Value::Array(list) => Ok(list.iter().map(Container::from_json).collect()),
            Value::Null => Ok(Vec::new()),
            other => Err(bad_body(
                endpoint,
                "expected a JSON list of containers",
                &other,
            )),
        }
    }

    /// A GET whose answer is a JSON list (`null` read as empty).
    pub(super) async fn get_list<T>(
        &self,
        path: &[&str],
        what: &str,
        read: fn(&Value) -> T,
    ) -> Result<Vec<T>, MkeError> {
        let (endpoint, json) = self.get_json(path).await?;
        match json {
            Value::Array(list) => Ok(list.iter().map(read).collect()),
            Value::Null => Ok(Vec::new()),
            other => Err(bad_body(
                endpoint,
                &format!("expected a JSON list of {what}"),
                &other,
            )),
        }
    }

    /// `GET /accounts?filter=users`, every page (eNZi: `accounts[]` and
    /// `nextPageStart`).
    pub async fn users(&self) -> Result<Vec<Account>, MkeError> {
        let mut out = Vec::new();
        let mut start = String::new();
        for _ in 0..MAX_ACCOUNT_PAGES {
            let query = [
                ("filter", "users"),
                ("limit", ACCOUNTS_PER_PAGE),
                ("start", start.as_str()),
            ];
            let n = if start.is_empty() { 2 } else { 3 };
            let req = Request {
                query: &query[..n],
                ..Request::get(&["accounts"])
            };
            let resp = self.send(&req).await?;
            let endpoint = self.endpoint(&req);
            let json: Value = serde_json::from_str(&resp.body).map_err(|e| MkeError::BadBody {
                endpoint: endpoint.clone(),
                detail: format!("not JSON ({e})"),
            })?;
            let (page, next) = parse_accounts(&json)
                .ok_or_else(|| bad_body(endpoint, "expected {accounts: [...]}", &json))?;
            let last = page.is_empty() || next.is_empty() || next == start;
            out.extend(page.into_iter().filter(|a| !a.is_org));
            if last {
                return Ok(out);
            }
            start = next;
        }
        Ok(out)
    }
}
