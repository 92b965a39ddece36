#!/usr/bin/env bash
# SSH fan-out benchmark (issue 5): mkeprep's one-step `hosts` playbook, each
# SSH transport, against throwaway OpenSSH daemons on loopback
# (127.77.0.0/16, 16 addresses per sshd), beside `xargs -P` OpenSSH loops
# (default and curve25519 key exchange) and, when they install from PyPI
# into bench/.venv, `ansible -m ping` and `pyinfra exec`.
#
#   sudo bench/ssh-fanout.sh                      # N = 10, 200, 1000; 3 runs each
#   NS="200" RUNS=5 bench/ssh-fanout.sh
#   PEERS=0 bench/ssh-fanout.sh                   # skip ansible and pyinfra
#
# Needs root (sshd), openssh-server and openssh-client. Prints medians of wall
# time, client CPU, peak RSS and sshd CPU, the floor and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/sbin/sshd ] || { echo "needs /usr/sbin/sshd: apt-get install -y openssh-server" >&2; exit 1; }
cargo build --release --quiet
ulimit -n 65536 2>/dev/null || true
exec python3 bench/ssh_fanout.py
