//! Health and login: `GET /_ping`, `POST /auth/login` (sessions with MKE's
//! per-user limit) and the Bearer token check of every other endpoint.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use serde::Deserialize;
use serde_json::json;

use super::Note;
use super::reply::{Resp, Shape, error, json_response, read_body, response};
use crate::sandbox::{Session, Shared, config, random_id};

/// `GET /_ping`: `OK` through `MKE_HOST`; at a manager's own address, a
/// manager that is down answers 503.
pub(super) fn ping(shared: &Shared, local: Option<IpAddr>) -> Resp {
    let down = shared.topo.managers().any(|n| {
        n.down
            && Some(n.addr) == local
            && !n.addr.is_unspecified()
            && n.addr != IpAddr::from([127, 0, 0, 1])
    });
    if down {
        error(Shape::Plain, 503, "unhealthy: this manager is down")
    } else {
        response(200, "text/plain; charset=utf-8", "OK")
    }
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

pub(super) async fn login(shared: &Shared, req: Request<Incoming>, note: &mut Note) -> Resp {
    let body = match read_body(req, Shape::Errors).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let Ok(creds) = serde_json::from_slice::<LoginRequest>(&body) else {
        return error(
            Shape::Errors,
            400,
            "invalid login request: expected JSON {\"username\": ..., \"password\": ...}",
        );
    };
    if creds.username != shared.opts.username || creds.password != shared.password.expose() {
        note.login = Some("denied");
        return error(Shape::Errors, 401, "invalid username or password");
    }
    let (config_lifetime, per_user_limit) = config::session_settings(&shared.cluster().config);
    let lifetime =
        Duration::from_secs_f64(shared.opts.token_expiry_seconds.unwrap_or(config_lifetime));
    let token = random_id();
    let now = Instant::now();
    {
        let mut tokens = shared.tokens();
        tokens.insert(
            token.clone(),
            Session {
                issued: now,
                last_used: now,
                uses: 0,
                lifetime,
            },
        );
        // Over the per-user limit, MKE deletes the least recently used session.
        while tokens.len() > per_user_limit {
            let oldest = tokens
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(t, _)| t.clone());
            match oldest {
                Some(t) => tokens.remove(&t),
                None => break,
            };
        }
    }
    note.login = Some("ok");
    note.logins = Some(shared.logins.fetch_add(1, Ordering::SeqCst) + 1);
    json_response(200, &json!({ "auth_token": token }))
}

/// Checks the Bearer token; the error is the 401 message (never the token).
pub(super) fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), &'static str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("unauthorized: authentication token required (log in with POST /auth/login)")?;
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .ok_or("unauthorized: expected an Authorization: Bearer token")?;
    let mut tokens = shared.tokens();
    let Some(session) = tokens.get_mut(token) else {
        return Err("unauthorized: invalid authentication token provided");
    };
    let used_up = shared
        .opts
        .token_expiry_requests
        .is_some_and(|n| session.uses >= n);
    if used_up || session.issued.elapsed() >= session.lifetime {
        tokens.remove(token);
        return Err("unauthorized: session expired, log in again");
    }
    session.uses += 1;
    session.last_used = Instant::now();
    Ok(())
}
