//! What to write instead, for the Ansible keys mkeprep does not have: an
//! SRE who writes Ansible daily gets the mkeprep way, not a did-you-mean.

/// The mkeprep way for an Ansible step key (or module) that is not one.
pub fn step_key_hint(key: &str) -> Option<&'static str> {
    Some(match key {
        "until" => {
            "mkeprep has no `until`: a step's check is retried with `retries: N` and `delay: 10s` until it is in sync"
        }
        "with_items" | "with_list" | "with_dict" | "with_fileglob" | "with_sequence"
        | "loop_control" => {
            "write `loop: [a, b]` (or `loop: \"{{ list }}\"`); each item is `item`, its position `loop.index`"
        }
        "block" | "rescue" | "always" => {
            "mkeprep has no blocks: give each step `when:` and `ignore_errors: true` where a failure may pass, or share steps with `include: FILE`"
        }
        "handlers" | "notify" | "listen" => {
            "mkeprep has no handlers: a later step runs when an earlier one changed with `when: steps.some_step.changed` (command and remote register `changed`), or requires it with `requires:`"
        }
        "changed_when" | "failed_when" => {
            "only `command` and `remote` take `changed_when`/`failed_when`, as parameters of the module (indented under it); other modules decide by their check"
        }
        "delegate_to" | "run_once" | "local_action" | "connection" | "hosts" => {
            "steps run on this machine (`command`) or on the inventory's hosts (`remote` with `on: all | managers | workers | [address, …]`)"
        }
        "become" | "become_user" | "become_method" => {
            "`become: true` is a parameter of `remote` (sudo -n on the node), indented under it"
        }
        "shell" | "raw" | "script" | "ansible.builtin.shell" | "ansible.builtin.command" => {
            "use `command` (a program and its arguments, no shell) on this machine, or `remote` with `argv:` or `script:` on the nodes"
        }
        "setup" | "gather_facts" | "ansible.builtin.setup" => {
            "read the nodes' facts with a `facts` step; later steps use `steps.facts.hosts['ADDRESS'].cpus`"
        }
        "vars" => "steps have no `vars`: put variables in the playbook's `vars:` or `vars_files:`",
        "import_tasks" | "include_tasks" | "import_playbook" => {
            "write `- include: FILE` as a step: the steps of FILE (a file with only `steps:`) in place"
        }
        "environment" => "`command` takes `env:` for its environment",
        "no_log" => {
            "secrets are masked without asking: values of secret-named variables (`*password*`, `*token*`, …) never reach any output"
        }
        "check_mode" => "dry runs are a run flag: `mkeprep run PLAYBOOK --check`",
        "args" => "parameters go under the module key, as a mapping",
        "debugger" | "any_errors_fatal" | "max_fail_percentage" | "serial" | "throttle" => {
            "a run stops at the first step that fails; `--forks N` bounds hosts in flight"
        }
        _ => return None,
    })
}

/// The mkeprep way for an Ansible playbook key.
pub fn playbook_key_hint(key: &str) -> Option<&'static str> {
    Some(match key {
        "tasks" | "pre_tasks" | "post_tasks" | "roles" => {
            "a playbook's steps are under `steps:` (no plays or roles; share steps with `- include: FILE`)"
        }
        "hosts" | "gather_facts" | "become" | "connection" => {
            "the nodes come from the inventory (`-i hosts.yaml`); steps on them use `remote` and `facts`"
        }
        "handlers" => "mkeprep has no handlers: see `when:` and `requires:` on steps",
        "vars_prompt" => "pass values with `-e KEY=VALUE` or `-e @FILE`",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_ansible_keys_name_the_mkeprep_way() {
        for (key, says) in [
            ("until", "retries"),
            ("with_items", "loop:"),
            ("block", "ignore_errors"),
            ("handlers", "when"),
            ("changed_when", "command"),
            ("delegate_to", "remote"),
            ("become", "remote"),
            ("shell", "command"),
            ("setup", "facts"),
            ("include_tasks", "include: FILE"),
        ] {
            let hint = step_key_hint(key).unwrap_or_else(|| panic!("{key}"));
            assert!(hint.contains(says), "{key}: {hint}");
        }
        assert!(playbook_key_hint("tasks").unwrap().contains("steps:"));
        assert_eq!(step_key_hint("whne"), None);
    }
}
