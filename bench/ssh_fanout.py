#!/usr/bin/env python3
"""SSH fan-out benchmark: mkeprep's `hosts` check against throwaway OpenSSH
daemons on loopback, beside a plain `xargs -P` OpenSSH loop and, when they
install from PyPI into bench/.venv, `ansible -m ping` and `pyinfra exec`.

Every host runs `true`. For each N and tool, runs alternate (tool A, B, C,
A, B, C, ...) and the medians are printed: wall time, client CPU (the tool
and its children), peak RSS of the tool's largest process, and the CPU the
sshd daemons spent serving the run. The floor is that sshd CPU spread over
the machine's cores: what the servers alone cost on this machine, however
fast the client. Every run must reach every host.

Run through bench/ssh-fanout.sh (builds the release binary, needs root for
sshd). Knobs (environment): NS="10 200 1000", RUNS=3, FORKS=50,
PEERS=1 (0: skip ansible/pyinfra), PEER_MAX_N=200 (ansible and pyinfra only
up to this N: at 1,000 hosts ansible alone takes minutes per run),
TOOLS=native,curve25519 (only the tools whose names contain one of these).
"""

import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "mkeprep")
SSHD = "/usr/sbin/sshd"
PER_DAEMON = 16  # OpenSSH accepts at most 16 ListenAddress lines
NS = [int(n) for n in os.environ.get("NS", "10 200 1000").split()]
RUNS = int(os.environ.get("RUNS", "3"))
FORKS = int(os.environ.get("FORKS", "50"))
PEERS = os.environ.get("PEERS", "1") != "0"
PEER_MAX_N = int(os.environ.get("PEER_MAX_N", "200"))
CORES = os.cpu_count() or 1
TICK = os.sysconf("SC_CLK_TCK")


def address(i):
    """Host i on 127.77.0.0/16: away from the sandbox (127.0.0.x) and tests."""
    return f"127.77.{i // 250}.{i % 250 + 2}"


def free_port(addrs):
    for port in range(22100, 22900):
        ok = True
        for a in addrs:
            s = socket.socket()
            try:
                s.bind((a, port))
            except OSError:
                ok = False
            finally:
                s.close()
            if not ok:
                break
        if ok:
            return port
    sys.exit("no free port on the benchmark addresses")


def keygen(path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", path],
        check=True,
        stdin=subprocess.DEVNULL,
    )


BENCH_USER = "mkeprep-bench"


def bench_user(work):
    """The hosts' login user: a throwaway system user with /bin/sh, created
    for the run and removed after it, so the login shell's start-up files cost nothing (root's
    .bashrc here runs `pyenv init`, about 150 ms of CPU per login, which
    would swamp what is measured). Its home is in the work directory."""
    home = os.path.join(work, "home")
    os.makedirs(home, exist_ok=True)
    if subprocess.run(["id", BENCH_USER], capture_output=True).returncode != 0:
        subprocess.run(
            ["useradd", "--system", "--shell", "/bin/sh", "--home-dir", home,
             "--no-create-home", BENCH_USER],
            check=True,
        )
    else:
        subprocess.run(["usermod", "--home", home, BENCH_USER], check=True)
    # "*": no password, but not locked ("!"), which sshd would refuse.
    subprocess.run(["usermod", "--password", "*", BENCH_USER], check=True)
    import pwd
    pw = pwd.getpwnam(BENCH_USER)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    os.chmod(work, 0o755)  # sshd reads authorized_keys as the user
    return BENCH_USER


def cpu_busy():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return [sum(v) - v[3] - v[4], sum(v)]


def proc_cpu(pid):
    """utime+stime+cutime+cstime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK


CPUACCT = "/sys/fs/cgroup/cpuacct"


def server_cgroup():
    """A cgroup v1 cpuacct group for the daemons, when the machine has one:
    it counts every process they start (sessions, shells, the commands),
    whether or not the daemons have reaped them yet. None elsewhere."""
    if not os.path.isdir(CPUACCT):
        return None
    path = os.path.join(CPUACCT, f"mkeprep-bench-{os.getpid()}")
    try:
        os.makedirs(path, exist_ok=True)
        return path
    except OSError:
        return None


class Cluster:
    def __init__(self, work, n, user):
        self.work, self.n, self.user = work, n, user
        self.cgroup = server_cgroup()
        self.addrs = [address(i) for i in range(n)]
        self.port = free_port(self.addrs)
        self.key = os.path.join(work, "client_key")
        self.host_key = os.path.join(work, "host_key")
        if not os.path.exists(self.key):
            keygen(self.key)
            keygen(self.host_key)
        auth = os.path.join(work, "authorized_keys")
        shutil.copy(self.key + ".pub", auth)
        os.chmod(auth, 0o644)
        os.makedirs("/run/sshd", exist_ok=True)
        self.daemons = []
        for d in range(0, n, PER_DAEMON):
            cfg = os.path.join(work, f"sshd{d}.conf")
            with open(cfg, "w") as f:
                for a in self.addrs[d : d + PER_DAEMON]:
                    f.write(f"ListenAddress {a}:{self.port}\n")
                f.write(
                    f"HostKey {self.host_key}\nPidFile none\nStrictModes no\nUsePAM no\n"
                    f"AuthorizedKeysFile {auth}\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
                    "MaxStartups 200:30:400\nMaxSessions 10\nLogLevel ERROR\nUseDNS no\n"
                )
            self.daemons.append(
                subprocess.Popen(
                    [SSHD, "-D", "-e", "-f", cfg],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=open(os.path.join(work, f"sshd{d}.log"), "w"),
                )
            )
            if self.cgroup:
                with open(os.path.join(self.cgroup, "cgroup.procs"), "w") as f:
                    f.write(str(self.daemons[-1].pid))
        deadline = time.time() + 30
        for a in self.addrs:
            while True:
                try:
                    socket.create_connection((a, self.port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        sys.exit(f"sshd did not listen on {a}:{self.port}")
                    time.sleep(0.05)
        time.sleep(0.3)  # let the daemons reap the probes
        pub = open(self.host_key + ".pub").read().split()
        self.known_hosts = os.path.join(work, f"known_hosts.{n}")
        with open(self.known_hosts, "w") as f:
            for a in self.addrs:
                f.write(f"[{a}]:{self.port} {pub[0]} {pub[1]}\n")
        self.inventory = os.path.join(work, f"hosts.{n}.yaml")
        with open(self.inventory, "w") as f:
            f.write("hosts:\n")
            for a in self.addrs:
                f.write(
                    f"  - address: {a}\n    port: {self.port}\n    user: {self.user}\n"
                    f"    keyPath: {self.key}\n"
                )
        self.playbook = os.path.join(work, "hosts-only.yaml")
        with open(self.playbook, "w") as f:
            f.write(
                "name: ssh fan-out\nsteps:\n  - id: check-hosts\n"
                "    hosts: {sudo: skip, cluster_coverage: false}\n"
            )
        self.hostlist = os.path.join(work, f"hostlist.{n}")
        with open(self.hostlist, "w") as f:
            f.write("\n".join(self.addrs) + "\n")

    def sshd_cpu(self):
        return sum(proc_cpu(d.pid) for d in self.daemons)

    def server_cpu(self):
        """CPU seconds of the daemons and everything they started (cgroup),
        or None without cpuacct."""
        if not self.cgroup:
            return None
        with open(os.path.join(self.cgroup, "cpuacct.usage")) as f:
            return int(f.read()) / 1e9

    def stop(self):
        subprocess.run(["pkill", "-u", self.user])  # sessions left behind
        for d in self.daemons:
            d.send_signal(signal.SIGTERM)
        for d in self.daemons:
            try:
                d.wait(timeout=10)
            except subprocess.TimeoutExpired:
                d.kill()
        if self.cgroup:
            for _ in range(50):
                try:
                    os.rmdir(self.cgroup)
                    break
                except OSError:
                    time.sleep(0.1)


def measure(cluster, argv, check, env=None):
    """Runs argv; returns wall, client CPU, peak RSS (MB), sshd CPU. A tool
    that leaves connections behind (ansible's ControlPersist masters) has
    them closed after the wall time is taken and before sshd's CPU is read,
    so their sessions count for that tool and not for the next."""
    cleanup = None
    if argv and argv[0] == "cleanup":
        cleanup, argv = argv[1], argv[2:]
    time.sleep(0.2)
    sshd_before = cluster.sshd_cpu()
    server_before = cluster.server_cpu()
    busy_before = cpu_busy()
    started = time.monotonic()
    # A fresh child process per run, so RUSAGE_CHILDREN covers just this run.
    wrapper = (
        "import resource,subprocess,sys,json;"
        "p=subprocess.run(sys.argv[1:],stdout=subprocess.PIPE,stderr=subprocess.PIPE);"
        "r=resource.getrusage(resource.RUSAGE_CHILDREN);"
        "json.dump({'rc':p.returncode,'cpu':r.ru_utime+r.ru_stime,'rss':r.ru_maxrss,"
        "'out':p.stdout.decode(errors='replace'),'err':p.stderr.decode(errors='replace')[-4000:]},sys.stdout)"
    )
    res = subprocess.run(
        [sys.executable, "-c", wrapper] + argv,
        capture_output=True,
        text=True,
        env=env,
        cwd=cluster.work,
    )
    wall = time.monotonic() - started
    busy = [y - x for x, y in zip(busy_before, cpu_busy())]
    if cleanup:
        subprocess.run(["pkill", "-f", cleanup])
        time.sleep(1.0)
    time.sleep(0.5)  # let the daemons reap the last sessions
    sshd = cluster.sshd_cpu() - sshd_before
    server = cluster.server_cpu()
    server = None if server is None else server - server_before
    r = json.loads(res.stdout)
    problem = check(r)
    if problem:
        sys.exit(f"{' '.join(argv[:3])}…: {problem}\nstdout: {r['out'][-3000:]}\nstderr: {r['err'][-3000:]}")
    return {"wall": wall, "cpu": r["cpu"], "rss": r["rss"] / 1024, "sshd": sshd, "server": server,
            "busy": busy[0] / busy[1] if busy[1] else 0.0}


def mkeprep_argv(c, playbook, transport):
    """`mkeprep run PLAYBOOK` against cluster c, JSON events, a fresh state dir."""
    state = tempfile.mkdtemp(dir=c.work)
    return [
        BIN, "run", playbook, "-i", c.inventory, "--known-hosts", c.known_hosts,
        "--ssh-transport", transport, "-f", str(FORKS), "--state-dir", state,
        "--output", "json", "--ssh-timeout", "30",
    ]


def mkeprep(transport):
    def argv(c):
        return mkeprep_argv(c, c.playbook, transport)

    def check(c):
        def ok(r):
            if r["rc"] != 0:
                return f"exit {r['rc']}"
            hosts = [json.loads(l) for l in r["out"].splitlines() if '"event":"host"' in l]
            good = sum(1 for h in hosts if h.get("status") == "ok")
            if good != c.n:
                return f"{good} of {c.n} hosts ok"
            return None
        return ok

    return argv, check


def xargs_ssh(kex):
    def argv(c):
        ssh = [
            "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={c.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "IdentitiesOnly=yes", "-i", c.key, "-p", str(c.port), "-l", c.user,
            "-o", "ConnectTimeout=30",
        ]
        if kex:
            ssh += ["-o", f"KexAlgorithms={kex}"]
        # Each host prints its name when `true` succeeded.
        return ["sh", "-c", f"xargs -P {FORKS} -I{{}} {' '.join(ssh)} {{}} 'true && echo {{}}' < {c.hostlist}"]

    def check(c):
        def ok(r):
            done = len([l for l in r["out"].splitlines() if l.strip()])
            return None if r["rc"] == 0 and done == c.n else f"exit {r['rc']}, {done} of {c.n} hosts"
        return ok

    return argv, check


def venv_tools(work):
    """ansible-core and pyinfra in bench/.venv, when PyPI has them."""
    venv = os.path.join(ROOT, "bench", ".venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(os.path.join(venv, "bin", "pyinfra")):
        print("installing ansible-core and pyinfra into bench/.venv ...", file=sys.stderr)
        try:
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([py, "-m", "pip", "install", "-q", "ansible-core", "pyinfra"], check=True)
        except subprocess.CalledProcessError as e:
            print(f"note: peers not installable ({e}); skipping them", file=sys.stderr)
            return None
    return os.path.join(venv, "bin")


def ansible_argv(bindir, c, module_args):
    """`ansible all -m …` against cluster c, with a fresh ControlPath
    directory per run: no run reuses another's connections (ansible's
    ControlPersist would keep them 60 s); `measure` closes them after."""
    inv = os.path.join(c.work, f"ansible.{c.n}.ini")
    with open(inv, "w") as f:
        f.write("[all]\n" + "\n".join(c.addrs) + "\n[all:vars]\n")
        f.write(
            f"ansible_port={c.port}\nansible_user={c.user}\nansible_ssh_private_key_file={c.key}\n"
            f"ansible_ssh_common_args='-o UserKnownHostsFile={c.known_hosts} -o StrictHostKeyChecking=yes'\n"
            "ansible_python_interpreter=/usr/bin/python3\n"
        )
    cp = tempfile.mkdtemp(dir=c.work)
    return ["cleanup", cp, "env", f"ANSIBLE_SSH_CONTROL_PATH_DIR={cp}", "ANSIBLE_HOST_KEY_CHECKING=True",
            os.path.join(bindir, "ansible"), "all", "-i", inv, *module_args, "-f", str(FORKS), "-o"]


def ansible_check(c):
    def ok(r):
        good = r["out"].count("SUCCESS")
        return None if good == c.n else f"exit {r['rc']}, {good} of {c.n} hosts SUCCESS"
    return ok


def ansible(bindir):
    return (lambda c: ansible_argv(bindir, c, ["-m", "ping"])), ansible_check


def pyinfra_inventory(c):
    """A pyinfra inventory of cluster c (strict host keys, the bench key)."""
    inv = os.path.join(c.work, f"pyinfra_{c.n}.py")
    with open(inv, "w") as f:
        data = {
            "ssh_port": c.port, "ssh_user": c.user, "ssh_key": c.key,
            "ssh_known_hosts_file": c.known_hosts, "ssh_strict_host_key_checking": "yes",
        }
        f.write(f"hosts = [(a, {data!r}) for a in {c.addrs!r}]\n")
    return inv


def exit_zero(c):
    def ok(r):
        return None if r["rc"] == 0 else f"exit {r['rc']}"
    return ok


def pyinfra(bindir):
    def argv(c):
        return [
            os.path.join(bindir, "pyinfra"), pyinfra_inventory(c), "exec", "--parallel", str(FORKS),
            "-y", "--", "true",
        ]

    return argv, exit_zero


def run_rounds(cluster, n, tools):
    """Runs each (name, (argv, check), times) tool `times` times, the tools
    alternating within each round; returns name -> measurements."""
    runs = {name: [] for name, _, _ in tools}
    for i in range(max((t[2] for t in tools), default=0)):
        for name, (argv, check), times in tools:
            if i >= times:
                continue
            m = measure(cluster, argv(cluster), check(cluster))
            runs[name].append(m)
            print(f"N={n} run {i + 1}/{times} {name}: {m['wall']:.2f}s wall, {m['cpu']:.2f}s cpu, "
                  f"{m['rss']:.1f} MB, sshd {m['sshd']:.2f}s, cores {m['busy'] * 100:.0f}% busy",
                  file=sys.stderr, flush=True)
    return runs


def only_selected(tools):
    """The tools TOOLS=a,b names (all without it)."""
    only = os.environ.get("TOOLS")
    return [t for t in tools if any(w in t[0] for w in only.split(","))] if only else tools


def teardown(cluster, user, work):
    """However the run ends (a failed check exits): no daemon, session or
    bench user is left behind."""
    if cluster is not None:
        cluster.stop()
    subprocess.run(["pkill", "-u", user])
    subprocess.run(["userdel", user], capture_output=True)
    shutil.rmtree(work, ignore_errors=True)


def report(results, base, header, server_columns=False):
    """The table of medians, and how much slower each tool was than `base`.
    `server_columns`: also the CPU of everything the daemons started
    (cgroup), and wall over that floor."""
    med = statistics.median
    print(header)
    extra = " server CPU (cgroup) | wall / server floor |" if server_columns else ""
    print("| N | tool | wall | client CPU | peak RSS | sshd CPU | cores busy | floor | wall / floor |" + extra)
    print("|---|---|---|---|---|---|---|---|---|" + ("---|---|" if server_columns else ""))
    for n, runs in results.items():
        for name, ms in runs.items():
            if not ms:
                continue
            wall, cpu, rss, sshd, busy = (
                med([m[k] for m in ms]) for k in ("wall", "cpu", "rss", "sshd", "busy")
            )
            floor = sshd / CORES
            row = (f"| {n} | {name} | {wall:.2f} s | {cpu:.2f} s | {rss:.1f} MB | {sshd:.2f} s | "
                   f"{busy * 100:.0f}% | {floor:.2f} s | {wall / floor if floor else float('nan'):.2f} |")
            if server_columns:
                servers = [m["server"] for m in ms if m.get("server") is not None]
                if servers:
                    server = med(servers)
                    row += f" {server:.2f} s | {wall / (server / CORES) if server else float('nan'):.2f} |"
                else:
                    row += " — | — |"
            print(row)
        if not runs.get(base):
            continue
        first = med([m["wall"] for m in runs[base]])
        others = ", ".join(
            f"{name} {med([m['wall'] for m in ms]) / first:.1f}x"
            for name, ms in runs.items() if name != base and ms
        )
        if others:
            print(f"|   | N={n}: slower than {base} by | {others} | | | | | | |")


def prepare(prefix):
    """Checks the binary and root, raises the open-file limit; returns the
    work directory, the bench user and the peers' bin directory (or None)."""
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} missing: cargo build --release")
    if os.geteuid() != 0:
        sys.exit("run as root (the benchmark starts sshd daemons)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = tempfile.mkdtemp(prefix=prefix)
    user = bench_user(work)
    return work, user, (venv_tools(work) if PEERS else None)


def main():
    work, user, peers = prepare("mkeprep-ssh-bench-")
    results = {}
    cluster = None
    try:
        for n in NS:
            cluster = Cluster(work, n, user)
            tools = [
                ("mkeprep (native)", mkeprep("native"), RUNS),
                ("mkeprep (openssh)", mkeprep("openssh"), RUNS),
                ("xargs -P ssh (default kex)", xargs_ssh(None), RUNS),
                ("xargs -P ssh (curve25519)", xargs_ssh("curve25519-sha256"), RUNS),
            ]
            if peers and n <= PEER_MAX_N:
                tools += [("ansible -m ping", ansible(peers), RUNS), ("pyinfra exec", pyinfra(peers), RUNS)]
            results[n] = run_rounds(cluster, n, only_selected(tools))
            cluster.stop()
            cluster = None
    finally:
        teardown(cluster, user, work)
    report(
        results,
        "mkeprep (native)",
        f"\nSSH fan-out, {CORES} cores, forks {FORKS}, medians of {RUNS} runs; every run reached every host\n"
        f"floor = sshd CPU of the run / {CORES} cores (what serving the logins alone costs here)\n",
    )


if __name__ == "__main__":
    main()
