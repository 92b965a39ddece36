#!/usr/bin/env python3
"""Facts benchmark: mkeprep's `facts` step (one SSH command per host:
os-release, uname, nproc, meminfo, cgroup, df, listening ports, machine-id,
hostname, docker version) against throwaway OpenSSH daemons on loopback,
beside Ansible's fact gathering (`ansible all -m setup`, and with
`gather_subset=min`) and pyinfra's facts, on the same hosts.

The daemons, the login user, the measurement (wall, client CPU, peak RSS of
the tool's largest process, sshd CPU; the floor is the sshd CPU spread over
the cores) and the peers' virtualenv are bench/ssh_fanout.py's.

Run through bench/facts.sh (builds the release binary, needs root for
sshd). Knobs (environment): NS="200 1000", RUNS=3, FORKS=50, PEERS=1 (0:
mkeprep only), PEER_MAX_N=1000 (peers only up to this N), PEER_RUNS=RUNS
(runs of the peers, which take minutes at 1,000 hosts), TOOLS=… (only tools
whose names contain one of these, comma-separated).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ssh_fanout as fan  # noqa: E402

NS = [int(n) for n in os.environ.get("NS", "200 1000").split()]
RUNS = int(os.environ.get("RUNS", "3"))
PEER_RUNS = int(os.environ.get("PEER_RUNS", str(RUNS)))
FORKS = int(os.environ.get("FORKS", "50"))
PEERS = os.environ.get("PEERS", "1") != "0"
PEER_MAX_N = int(os.environ.get("PEER_MAX_N", "1000"))


def mkeprep_facts(transport):
    def argv(c):
        playbook = os.path.join(c.work, "facts.yaml")
        with open(playbook, "w") as f:
            f.write("name: facts\nsteps:\n  - id: facts\n    facts: {}\n")
        return fan.mkeprep_argv(c, playbook, transport)

    def check(c):
        def ok(r):
            if r["rc"] != 0:
                return f"exit {r['rc']}"
            end = [json.loads(l) for l in r["out"].splitlines() if '"event":"step_end"' in l]
            out = end[0]["output"] if end else {}
            hosts = out.get("hosts", {})
            good = [h for h in hosts.values() if h.get("ok") and h.get("cpus") and h.get("memory_bytes")]
            return None if len(good) == c.n else f"{len(good)} of {c.n} hosts with facts"
        return ok

    return argv, check


def ansible_setup(bindir, subset):
    args = ["-m", "setup"] + (["-a", f"gather_subset={subset}"] if subset else [])
    return (lambda c: fan.ansible_argv(bindir, c, args)), fan.ansible_check


# pyinfra's facts closest to what `facts` reads (it has none for free disk
# space or the cgroup version).
PYINFRA_FACTS = [
    "server.LinuxDistribution", "server.KernelVersion", "server.Arch", "server.Hostname",
    "hardware.Cpus", "hardware.Memory", "server.Ports",
    "server.Command", "command=cat /etc/machine-id",
]


def pyinfra_facts(bindir):
    def argv(c):
        return [
            os.path.join(bindir, "pyinfra"), fan.pyinfra_inventory(c), "fact", "--parallel", str(FORKS),
            "-y", *PYINFRA_FACTS,
        ]

    return argv, fan.exit_zero


def main():
    fan.PEERS = PEERS
    work, user, peers = fan.prepare("mkeprep-facts-bench-")
    results = {}
    cluster = None
    try:
        for n in NS:
            cluster = fan.Cluster(work, n, user)
            tools = [
                ("mkeprep facts (native)", mkeprep_facts("native"), RUNS),
                # The same logins running only `true`: what the machine's
                # contention does to wall / floor, for reference.
                ("mkeprep hosts check (reference)", fan.mkeprep("native"), RUNS),
            ]
            if peers and n <= PEER_MAX_N:
                tools += [
                    ("ansible -m setup", ansible_setup(peers, None), PEER_RUNS),
                    ("ansible -m setup gather_subset=min", ansible_setup(peers, "min"), PEER_RUNS),
                    ("pyinfra fact (8 facts)", pyinfra_facts(peers), PEER_RUNS),
                ]
            results[n] = fan.run_rounds(cluster, n, fan.only_selected(tools))
            cluster.stop()
            cluster = None
    finally:
        fan.teardown(cluster, user, work)
    fan.report(
        results,
        "mkeprep facts (native)",
        f"\nFacts, {fan.CORES} cores, forks {FORKS}, medians (mkeprep {RUNS} runs, peers {PEER_RUNS}); "
        "every run read every host\n"
        f"floor = sshd CPU of the run / {fan.CORES} cores, as bench/ssh-fanout.sh measures it; server floor = "
        "the CPU of the daemons and every process they started (a cpuacct cgroup) / cores\n",
        server_columns=True,
    )


if __name__ == "__main__":
    main()
