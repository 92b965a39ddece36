//! `GET` and `PUT /api/ucp/config-toml`: the cluster's configuration, with
//! MKE's rules for `calico_kdd` and the timed etcd-to-KDD conversion.

use std::sync::atomic::Ordering;

use hyper::Request;
use hyper::body::Incoming;
use serde_json::json;

use super::Note;
use super::reply::{Resp, Shape, error, json_response, read_body, response};
use crate::sandbox::Shared;
use crate::sandbox::config::{self, Kdd};
use crate::sandbox::files::write_private;
use crate::sandbox::state::{PendingKdd, now_ms};

pub(super) fn get_config(shared: &Shared, note: &mut Note) -> Resp {
    let text = shared.cluster().config.clone();
    let n = shared.config_gets.fetch_add(1, Ordering::SeqCst);
    let text = if n < shared.opts.malformed_toml {
        note.fault = Some("malformed-toml");
        config::malformed(&text)
    } else {
        text
    };
    response(200, "application/toml", text)
}

/// Clears the "conversion in progress" flag however the conversion ends.
struct Busy<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

pub(super) async fn put_config(shared: &Shared, req: Request<Incoming>, note: &mut Note) -> Resp {
    let plain = |status, message: &str| error(Shape::Plain, status, message);
    let body = match read_body(req, Shape::Plain).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let (saved, dir) = {
        let mut cluster = shared.cluster();
        cluster.data.config_puts += 1;
        let name = format!("config-put-{}.toml", cluster.data.config_puts);
        let dir = cluster.dir().to_path_buf();
        if let Err(err) = cluster.save() {
            return plain(500, &err.to_string());
        }
        (name, dir)
    };
    if let Err(err) = write_private(&dir.join(&saved), &body) {
        return plain(500, &err.to_string());
    }
    note.body_file = Some(saved);
    let Ok(text) = std::str::from_utf8(&body) else {
        return plain(400, "invalid TOML: the body is not UTF-8 text");
    };
    let new_kdd = match config::parse_kdd(text) {
        Ok(k) => k,
        Err(message) => return plain(400, &message),
    };
    let (old_kdd, converting) = {
        let cluster = shared.cluster();
        (
            config::parse_kdd(&cluster.config) == Ok(Kdd::Value(true)),
            cluster.data.pending_kdd.is_some(),
        )
    };
    if converting
        || shared
            .kdd_busy
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        return plain(
            409,
            "a Calico datastore conversion to KDD is in progress; wait for it to finish, then read the configuration again",
        );
    }
    let _busy = Busy(&shared.kdd_busy);
    let message = match (old_kdd, new_kdd) {
        (true, Kdd::Value(true)) | (false, Kdd::Absent | Kdd::Value(false)) => {
            "Configuration updated"
        }
        (true, _) => {
            return plain(
                400,
                "cluster_config.calico_kdd cannot be changed from true to false: the conversion to the Kubernetes datastore (KDD) is irreversible; restore an MKE backup taken before the conversion to return to etcd",
            );
        }
        (false, Kdd::Value(true)) => {
            // Accepted: the cluster converts from now on, and finishes even
            // if the client or this process goes away (see `settle`).
            let duration = shared.opts.kdd_duration();
            {
                let mut cluster = shared.cluster();
                cluster.data.pending_kdd = Some(PendingKdd {
                    config: text.to_string(),
                    done_ms: now_ms() + u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
                });
                if let Err(err) = cluster.save() {
                    return plain(500, &err.to_string());
                }
            }
            tokio::time::sleep(duration).await;
            shared.opts.kdd_message.message()
        }
    };
    let mut cluster = shared.cluster();
    cluster.config = text.to_string();
    cluster.data.pending_kdd = None;
    match cluster.save() {
        Ok(()) => json_response(200, &json!({ "message": message })),
        Err(err) => plain(500, &err.to_string()),
    }
}
