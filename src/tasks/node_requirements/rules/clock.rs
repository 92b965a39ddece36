//! Clocks: each node against the other nodes, and this machine against
//! them (reference §7 [I]: etcd and the upgrade's certificates need the
//! nodes' clocks to agree).

use super::{Finding, Rules};
use crate::hostfacts::HostFacts;

/// The middle of the nodes' clock offsets from this machine: what "the
/// nodes' time" is, so that this machine's own error does not make every
/// node look off.
pub fn median_offset(facts: &[Option<&HostFacts>]) -> Option<f64> {
    let mut v: Vec<f64> = readings(facts).map(|(_, o, _)| o).collect();
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

/// How many nodes' clocks were read.
pub fn clocks_read(facts: &[Option<&HostFacts>]) -> usize {
    readings(facts).count()
}

/// (host index, offset, error) of every node whose clock was read.
fn readings<'a>(facts: &'a [Option<&HostFacts>]) -> impl Iterator<Item = (usize, f64, f64)> + 'a {
    facts.iter().enumerate().filter_map(|(i, f)| {
        f.and_then(|f| f.clock_offset_seconds.zip(f.clock_offset_error_seconds))
            .map(|(o, e)| (i, o, e))
    })
}

const REMEDY: &str = "synchronise the node's clock (chronyd or systemd-timesyncd, the same NTP servers on every node; `chronyc makestep` steps it now): etcd and the certificates the upgrade issues need the nodes' clocks to agree";

/// Each node's clock against the other nodes' (their median): etcd and
/// the certificates the upgrade issues need the nodes to agree. A node is
/// off only when it is more than `max_clock_skew` away even allowing for
/// the error of its reading. When no node stands out but the nodes still
/// split (two nodes, or two halves, too far apart), the earliest and the
/// latest clock are named.
pub(super) fn clocks(r: &Rules, facts: &[Option<&HostFacts>], out: &mut [Vec<Finding>]) {
    let (Some(level), Some(middle)) = (r.time_level(), median_offset(facts)) else {
        return;
    };
    let max = r.max_clock_skew_seconds;
    let mut flagged = false;
    for (i, offset, error) in readings(facts) {
        let apart = offset - middle;
        if apart.abs() - error > max {
            let way = if apart > 0.0 { "ahead of" } else { "behind" };
            out[i].push(Finding::new(
                "clock",
                level,
                format!(
                    "the clock is {:.1} s {way} the other nodes' (their median; ±{error:.1} s), more than {max} s",
                    apart.abs(),
                ),
                REMEDY.into(),
            ));
            flagged = true;
        }
    }
    if flagged {
        return;
    }
    let by = |a: &(usize, f64, f64), b: &(usize, f64, f64)| a.1.total_cmp(&b.1);
    let (Some(first), Some(last)) = (readings(facts).min_by(by), readings(facts).max_by(by)) else {
        return;
    };
    let spread = last.1 - first.1;
    if spread - first.2 - last.2 > max {
        for (node, which) in [(first, "earliest"), (last, "latest")] {
            out[node.0].push(Finding::new(
                "clock",
                level,
                format!(
                    "the nodes' clocks are {spread:.1} s apart (±{:.1} s), more than {max} s: this node's is the {which}",
                    first.2 + last.2
                ),
                REMEDY.into(),
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
