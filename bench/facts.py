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
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

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
        state = tempfile.mkdtemp(dir=c.work)
        return [
            fan.BIN, "run", playbook, "-i", c.inventory, "--known-hosts", c.known_hosts,
            "--ssh-transport", transport, "-f", str(FORKS), "--state-dir", state,
            "--output", "json", "--ssh-timeout", "30",
        ]

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
    def argv(c):
        inv = os.path.join(c.work, f"ansible.{c.n}.ini")
        with open(inv, "w") as f:
            f.write("[all]\n" + "\n".join(c.addrs) + "\n[all:vars]\n")
            f.write(
                f"ansible_port={c.port}\nansible_user={c.user}\nansible_ssh_private_key_file={c.key}\n"
                f"ansible_ssh_common_args='-o UserKnownHostsFile={c.known_hosts} -o StrictHostKeyChecking=yes'\n"
                "ansible_python_interpreter=/usr/bin/python3\n"
            )
        cp = tempfile.mkdtemp(dir=c.work)
        args = ["-m", "setup"] + (["-a", f"gather_subset={subset}"] if subset else [])
        return ["cleanup", cp, "env", f"ANSIBLE_SSH_CONTROL_PATH_DIR={cp}", "ANSIBLE_HOST_KEY_CHECKING=True",
                os.path.join(bindir, "ansible"), "all", "-i", inv, *args, "-f", str(FORKS), "-o"]

    def check(c):
        def ok(r):
            good = r["out"].count("SUCCESS")
            return None if good == c.n else f"exit {r['rc']}, {good} of {c.n} hosts SUCCESS"
        return ok

    return argv, check


# pyinfra's facts closest to what `facts` reads (it has none for free disk
# space or the cgroup version).
PYINFRA_FACTS = [
    "server.LinuxDistribution", "server.KernelVersion", "server.Arch", "server.Hostname",
    "hardware.Cpus", "hardware.Memory", "server.Ports",
    "server.Command", "command=cat /etc/machine-id",
]


def pyinfra_facts(bindir):
    def argv(c):
        inv = os.path.join(c.work, f"pyinfra_{c.n}.py")
        with open(inv, "w") as f:
            data = {
                "ssh_port": c.port, "ssh_user": c.user, "ssh_key": c.key,
                "ssh_known_hosts_file": c.known_hosts, "ssh_strict_host_key_checking": "yes",
            }
            f.write(f"hosts = [(a, {data!r}) for a in {c.addrs!r}]\n")
        return [
            os.path.join(bindir, "pyinfra"), inv, "fact", "--parallel", str(FORKS), "-y",
            *PYINFRA_FACTS,
        ]

    def check(c):
        def ok(r):
            return None if r["rc"] == 0 else f"exit {r['rc']}"
        return ok

    return argv, check


def main():
    if not os.path.exists(fan.BIN):
        sys.exit(f"{fan.BIN} missing: cargo build --release")
    if os.geteuid() != 0:
        sys.exit("run as root (the benchmark starts sshd daemons)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = tempfile.mkdtemp(prefix="mkeprep-facts-bench-")
    user = fan.bench_user(work)
    peers = fan.venv_tools(work) if PEERS else None
    results = {}
    cluster = None
    try:
        for n in NS:
            cluster = fan.Cluster(work, n, user)
            tools = [("mkeprep facts (native)", mkeprep_facts("native"), RUNS)]
            if peers and n <= PEER_MAX_N:
                tools += [
                    ("ansible -m setup", ansible_setup(peers, None), PEER_RUNS),
                    ("ansible -m setup gather_subset=min", ansible_setup(peers, "min"), PEER_RUNS),
                    ("pyinfra fact (8 facts)", pyinfra_facts(peers), PEER_RUNS),
                ]
            only = os.environ.get("TOOLS")
            if only:
                tools = [t for t in tools if any(w in t[0] for w in only.split(","))]
            runs = {name: [] for name, _, _ in tools}
            for i in range(max(t[2] for t in tools)):
                for name, (argv, check), times in tools:
                    if i >= times:
                        continue
                    m = fan.measure(cluster, argv(cluster), check(cluster))
                    runs[name].append(m)
                    print(f"N={n} run {i + 1}/{times} {name}: {m['wall']:.2f}s wall, {m['cpu']:.2f}s cpu, "
                          f"{m['rss']:.1f} MB, sshd {m['sshd']:.2f}s, cores {m['busy'] * 100:.0f}% busy",
                          file=sys.stderr, flush=True)
            cluster.stop()
            cluster = None
            results[n] = runs
    finally:
        if cluster is not None:
            cluster.stop()
        subprocess.run(["pkill", "-u", user])
        subprocess.run(["userdel", user], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    med = statistics.median
    cores = fan.CORES
    print(f"\nFacts, {cores} cores, forks {FORKS}, medians (mkeprep {RUNS} runs, peers {PEER_RUNS}); every run read every host")
    print(f"floor = sshd CPU of the run (sessions and the commands they ran included) / {cores} cores\n")
    print("| hosts | tool | wall | client CPU | peak RSS | sshd CPU | floor | wall / floor |")
    print("|---|---|---|---|---|---|---|---|")
    for n, runs in results.items():
        for name, ms in runs.items():
            wall, cpu, rss, sshd = (med([m[k] for m in ms]) for k in ("wall", "cpu", "rss", "sshd"))
            floor = sshd / cores
            print(f"| {n} | {name} | {wall:.2f} s | {cpu:.2f} s | {rss:.1f} MB | {sshd:.2f} s | "
                  f"{floor:.2f} s | {wall / floor if floor else float('nan'):.2f} |")
        base = med([m["wall"] for m in runs["mkeprep facts (native)"]])
        others = ", ".join(
            f"{name} {med([m['wall'] for m in ms]) / base:.1f}x"
            for name, ms in runs.items() if name != "mkeprep facts (native)"
        )
        if others:
            print(f"|   | N={n}: slower than mkeprep by | {others} | | | | | |")


if __name__ == "__main__":
    main()
