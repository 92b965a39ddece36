//! Flags that are in none of the places a known flag can be.

use super::{Finding, FlagData, Overrides, Problem, Written, comp_matches, minor, named};

/// An unknown flag: the component has an allow-list, and the flag is in
/// none of the places a known flag can be.
pub(super) fn unknown(
    data: &FlagData,
    target: (u64, u64),
    kubernetes: &str,
    w: &Written,
    user: Overrides<'_>,
    short: &str,
) -> Option<Finding> {
    let list = data.allowed.iter().find(|a| a.component == w.component)?;
    let still_there = data.removed.iter().any(|r| {
        comp_matches(&r.component, w.component)
            && r.flags.contains(&w.name)
            && minor(&r.removed_in).is_some_and(|m| m > target)
    });
    let managed = data
        .managed
        .iter()
        .any(|m| comp_matches(&m.component, w.component) && m.flags.contains(&w.name));
    if list.flags.contains(&w.name) || still_there || managed || named(user.known, w) {
        return None;
    }
    let near = crate::util::text::suggest(&w.name, list.flags.iter().map(String::as_str));
    let hint = near
        .map(|s| format!(" (did you mean --{s}?)"))
        .unwrap_or_default();
    // The list knows the flags removed since `compared_from`; for an older
    // target it may miss one removed in between, so it only warns — unless
    // the flag is a letter or two from one the list has: a misspelling,
    // which no Kubernetes takes.
    let from = list.compared_from.as_deref().unwrap_or(&list.kubernetes);
    let compared = minor(from).is_some_and(|m| m <= target);
    let misspelt = near.is_some_and(|s| strsim::levenshtein(&w.name, s) <= 2);
    let blocks = compared || misspelt;
    let message = if compared {
        format!(
            "--{} in {short}: {} has no such flag in Kubernetes {} (mkeprep's list), nor was it removed after {kubernetes}{hint}",
            w.name, w.component, list.kubernetes
        )
    } else if misspelt {
        format!(
            "--{} in {short}: {} has no such flag in Kubernetes {} (mkeprep's list), and it is a letter or two from one it has: a misspelling{hint}",
            w.name, w.component, list.kubernetes
        )
    } else {
        format!(
            "--{} in {short}: {} has no such flag in Kubernetes {} (mkeprep's list), but that list is of a newer Kubernetes than the target's {kubernetes} and may miss a flag removed since{hint}; check that {} {kubernetes} takes it",
            w.name, w.component, list.kubernetes, w.component
        )
    };
    Some(Finding {
        setting: w.setting.clone(),
        component: w.component.to_string(),
        flag: w.text.clone(),
        problem: Problem::Unknown,
        blocks,
        message,
        remedy: format!(
            "fix or remove --{} in {short} in the MKE 3 configuration; if {} {kubernetes} does take it, list it in known_flags",
            w.name, w.component
        ),
        mark: list.mark.clone(),
    })
}
