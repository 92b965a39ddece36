//! Clocks: each node against the other nodes, and this machine against
//! them (reference §7 [I]: etcd and the upgrade's certificates need the
//! nodes' clocks to agree).

use super::{Finding, Rules};
use crate::hostfacts::HostFacts;

/// The middle of the nodes' clock offsets from this machine: what "the
/// nodes' time" is, so that this machine's own error does not make every
/// node look off.
pub fn median_offset(facts: &[Option<&HostFacts>]) -> Option<f64> {
    let mut v: Vec<f64> = facts
        .iter()
        .filter_map(|f| f.and_then(|f| f.clock_offset_seconds))
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Each node's clock against the other nodes' (their median): etcd and
/// the certificates the upgrade issues need the nodes to agree. A node is
/// off only when it is more than `max_clock_skew` away even allowing for
/// the error of its reading.
pub(super) fn clocks(r: &Rules, facts: &[Option<&HostFacts>], out: &mut [Vec<Finding>]) {
    let (Some(level), Some(middle)) = (r.time_level(), median_offset(facts)) else {
        return;
    };
    for (i, f) in facts.iter().enumerate() {
        let Some((offset, error)) =
            f.and_then(|f| f.clock_offset_seconds.zip(f.clock_offset_error_seconds))
        else {
            continue;
        };
        let apart = offset - middle;
        if apart.abs() - error > r.max_clock_skew_seconds {
            let way = if apart > 0.0 { "ahead of" } else { "behind" };
            out[i].push(Finding::new(
                "clock",
                level,
                format!(
                    "the clock is {:.1} s {way} the other nodes' (their median; ±{error:.1} s), more than {} s",
                    apart.abs(),
                    r.max_clock_skew_seconds
                ),
                "synchronise the node's clock (chronyd or systemd-timesyncd, the same NTP servers on every node; `chronyc makestep` steps it now): etcd and the certificates the upgrade issues need the nodes' clocks to agree".into(),
            ));
        }
    }
}

/// A note when this machine's clock is off the nodes' (mkectl runs here).
pub fn this_machine(r: &Rules, facts: &[Option<&HostFacts>]) -> Option<String> {
    r.time_level()?;
    let middle = median_offset(facts)?;
    (middle.abs() > r.max_clock_skew_seconds.max(1.0)).then(|| {
        let way = if middle > 0.0 { "behind" } else { "ahead of" };
        format!(
            "note: this machine's clock is {:.1} s {way} the nodes' (their median): synchronise it too, mkectl runs here",
            middle.abs()
        )
    })
}
