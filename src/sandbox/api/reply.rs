//! Answers of the simulated API: the three error body shapes (see the
//! module docs of `api`), JSON and plain responses, and reading a bounded
//! request body.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response};
use serde_json::{Value, json};

pub(super) type Resp = Response<Full<Bytes>>;

/// Largest request body accepted (a config TOML is a few KiB).
pub(super) const MAX_BODY: usize = 4 << 20;

/// The error body shapes (see the module docs).
#[derive(Clone, Copy)]
pub(super) enum Shape {
    Errors,
    Message,
    Plain,
}

pub(super) fn shape_of(path: &str) -> Shape {
    if path == "/auth/login" || path == "/accounts" || path.starts_with("/api/ucp/backup") {
        Shape::Errors
    } else if path == "/api/ucp/config-toml" || path == "/_ping" {
        Shape::Plain
    } else {
        Shape::Message
    }
}

pub(super) fn response(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub(super) fn json_response(status: u16, value: &Value) -> Resp {
    response(status, "application/json", value.to_string())
}

pub(super) fn error(shape: Shape, status: u16, message: &str) -> Resp {
    match shape {
        Shape::Errors => {
            let code = match status {
                400 => "INVALID_INPUT",
                401 => "UNAUTHORIZED",
                404 => "NOT_FOUND",
                405 => "METHOD_NOT_ALLOWED",
                409 => "CONFLICT",
                413 => "PAYLOAD_TOO_LARGE",
                500..=599 => "INTERNAL_ERROR",
                _ => "ERROR",
            };
            json_response(
                status,
                &json!({"errors": [{"code": code, "message": message}]}),
            )
        }
        Shape::Message => json_response(status, &json!({ "message": message })),
        Shape::Plain => response(status, "text/plain; charset=utf-8", format!("{message}\n")),
    }
}

pub(super) async fn read_body(req: Request<Incoming>, shape: Shape) -> Result<Bytes, Resp> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(error(
            shape,
            413,
            &format!("request body larger than {MAX_BODY} bytes"),
        )),
        Err(err) => Err(error(
            shape,
            400,
            &format!("cannot read the request body: {err}"),
        )),
    }
}
