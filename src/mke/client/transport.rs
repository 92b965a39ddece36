//! The plumbing of every request: the session token (one login shared by
//! concurrent callers, one re-login on a 401), retries of idempotent
//! requests, and exactly one HTTP exchange.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

use super::MkeClient;
use crate::mke::error::{Endpoint, Timeouts, server_message, transport_error};
use crate::mke::{MkeError, MkeTarget};
use crate::util::secret::Secret;

pub(super) enum Body {
    Empty,
    Json(Value),
    Toml(String),
}

pub(super) struct Request<'a> {
    pub(super) method: Method,
    /// Set for requests to another address than the target (`ping_at`).
    pub(super) target: Option<&'a MkeTarget>,
    pub(super) path: &'a [&'a str],
    /// Query parameters (`?filter=users`), encoded by the URL builder.
    pub(super) query: &'a [(&'a str, &'a str)],
    pub(super) accept: &'static str,
    pub(super) body: Body,
    pub(super) auth: bool,
    pub(super) timeout: Option<Duration>,
    pub(super) retry: bool,
}

impl<'a> Request<'a> {
    pub(super) fn get(path: &'a [&'a str]) -> Self {
        Request {
            method: Method::GET,
            target: None,
            path,
            query: &[],
            accept: "application/json",
            body: Body::Empty,
            auth: true,
            timeout: None,
            retry: true,
        }
    }
}

pub(super) struct Response {
    pub(super) status: u16,
    pub(super) body: String,
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "REQUEST",
    }
}

impl MkeClient {
    pub(super) async fn get_json(&self, path: &[&str]) -> Result<(Endpoint, Value), MkeError> {
        let req = Request::get(path);
        let resp = self.send(&req).await?;
        let endpoint = self.endpoint(&req);
        match serde_json::from_str(&resp.body) {
            Ok(json) => Ok((endpoint, json)),
            Err(e) => Err(MkeError::BadBody {
                endpoint,
                detail: format!("not JSON ({e}): {}", server_message(&resp.body)),
            }),
        }
    }

    /// Sends with the session token, logging in again once on a 401, and
    /// turns non-2xx answers into [`MkeError::Http`].
    pub(super) async fn send(&self, req: &Request<'_>) -> Result<Response, MkeError> {
        let mut token = if req.auth {
            Some(self.token().await?)
        } else {
            None
        };
        let mut resp = self.exchange(req, token.as_ref()).await?;
        if resp.status == 401
            && let Some(used) = token.take()
        {
            self.forget_token(&used).await;
            token = Some(self.token().await?);
            resp = self.exchange(req, token.as_ref()).await?;
        }
        self.success(req, resp)
    }

    /// The response if 2xx, else [`MkeError::Http`] with MKE's message.
    fn success(&self, req: &Request<'_>, resp: Response) -> Result<Response, MkeError> {
        if (200..300).contains(&resp.status) {
            Ok(resp)
        } else {
            Err(MkeError::Http {
                endpoint: self.endpoint(req),
                status: resp.status,
                message: server_message(&resp.body),
            })
        }
    }

    /// One request with retries (idempotent requests only): any status is
    /// returned; 5xx answers are retried while tries remain.
    pub(super) async fn exchange(
        &self,
        req: &Request<'_>,
        token: Option<&Secret>,
    ) -> Result<Response, MkeError> {
        let endpoint = self.endpoint(req);
        let idempotent = req.retry && endpoint.is_idempotent();
        let policy = self.inner.cfg.retry;
        let attempts = if idempotent {
            policy.attempts.max(1)
        } else {
            1
        };
        let mut attempt = 1;
        loop {
            let result = self.send_once(req, token).await;
            let transient = match &result {
                Ok(resp) => resp.status >= 500,
                Err(e) => e.is_transient(),
            };
            if !transient || attempt >= attempts {
                return match result {
                    Ok(resp) if !endpoint.is_idempotent() && matches!(resp.status, 502 | 504) => {
                        Err(MkeError::OutcomeUnknown {
                            endpoint,
                            detail: format!(
                                "a proxy answered HTTP {} ({}) while MKE may still be working \
                                 on it",
                                resp.status,
                                server_message(&resp.body)
                            ),
                        })
                    }
                    other => other,
                };
            }
            tokio::time::sleep(policy.backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// Exactly one HTTP exchange.
    async fn send_once(
        &self,
        req: &Request<'_>,
        token: Option<&Secret>,
    ) -> Result<Response, MkeError> {
        let cfg = &self.inner.cfg;
        let target = req.target.unwrap_or(&cfg.target);
        let mut url = target.url(req.path)?;
        if !req.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(req.query.iter().copied());
        }
        let timeouts = Timeouts {
            connect: cfg.connect_timeout,
            request: req.timeout.unwrap_or(cfg.request_timeout),
        };
        let mut builder = self
            .inner
            .http
            .request(req.method.clone(), url)
            .timeout(timeouts.request)
            .header(ACCEPT, req.accept);
        if let Some(token) = token {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    MkeError::BadBody {
                        endpoint: self.endpoint(req),
                        detail: "the session token from the login is not a valid header value"
                            .to_string(),
                    }
                })?;
            value.set_sensitive(true);
            builder = builder.header(reqwest::header::AUTHORIZATION, value);
        }
        builder = match &req.body {
            Body::Empty => builder,
            Body::Json(v) => builder
                .header(CONTENT_TYPE, "application/json")
                .body(v.to_string()),
            Body::Toml(t) => builder
                .header(CONTENT_TYPE, "application/toml")
                .body(t.clone()),
        };
        let fail = |e: reqwest::Error| {
            transport_error(self.endpoint(req), &target.authority(), &e, timeouts)
        };
        let resp = builder.send().await.map_err(fail)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(fail)?;
        Ok(Response { status, body })
    }

    /// The cached token, or a fresh login.
    pub(super) async fn token(&self) -> Result<Secret, MkeError> {
        let mut slot = self.inner.token.lock().await;
        if let Some(token) = slot.as_ref() {
            return Ok(token.clone());
        }
        if let Some(denied) = self.inner.denied.get() {
            return Err(denied.clone());
        }
        let token = match self.login().await {
            Err(MkeError::Http {
                endpoint,
                status: 401,
                message,
            }) => {
                let denied = MkeError::Denied {
                    username: self.inner.cfg.username.clone(),
                    target: self.inner.cfg.target.to_string(),
                    message: format!("{endpoint}: HTTP 401: {message}"),
                };
                let _ = self.inner.denied.set(denied.clone());
                return Err(denied);
            }
            other => other?,
        };
        *slot = Some(token.clone());
        Ok(token)
    }

    /// Drops the token after a 401, unless another request already
    /// replaced it.
    async fn forget_token(&self, used: &Secret) {
        let mut slot = self.inner.token.lock().await;
        if slot.as_ref() == Some(used) {
            *slot = None;
        }
    }

    /// `POST /auth/login`; the token is registered for redaction at once.
    async fn login(&self) -> Result<Secret, MkeError> {
        let cfg = &self.inner.cfg;
        let req = Request {
            method: Method::POST,
            body: Body::Json(json!({
                "username": cfg.username,
                "password": cfg.password.expose(),
            })),
            auth: false,
            ..Request::get(&["auth", "login"])
        };
        // Not `send`: a login never carries a token nor logs in again.
        let resp = self.exchange(&req, None).await?;
        let resp = self.success(&req, resp)?;
        let token = serde_json::from_str::<Value>(&resp.body)
            .ok()
            .and_then(|v| v.get("auth_token")?.as_str().map(str::to_string))
            .filter(|t| !t.trim().is_empty());
        match token {
            Some(t) => Ok(Secret::new(t)),
            None => Err(MkeError::BadBody {
                endpoint: self.endpoint(&req),
                detail: "the answer holds no auth_token".to_string(),
            }),
        }
    }

    pub(super) fn endpoint(&self, req: &Request<'_>) -> Endpoint {
        let path = format!("/{}", req.path.join("/"));
        let target = match req.target {
            Some(t) => format!("{t}{path}"),
            None => path,
        };
        Endpoint::new(method_name(&req.method), target)
    }
}
