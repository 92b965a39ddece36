#!/usr/bin/env bash
# Facts benchmark (issue 11): mkeprep's `facts` step (native transport)
# against throwaway OpenSSH daemons on loopback (127.77.0.0/16, 16
# addresses per sshd), beside `ansible all -m setup` (full, and
# gather_subset=min) and `pyinfra INVENTORY fact …`, the peers from PyPI in
# bench/.venv as bench/ssh-fanout.sh installs them.
#
#   sudo bench/facts.sh                           # N = 200, 1000; 3 runs each
#   NS="200" RUNS=5 bench/facts.sh
#   PEER_RUNS=1 bench/facts.sh                    # the peers once (minutes at 1,000 hosts)
#   PEERS=0 bench/facts.sh                        # mkeprep only
#
# Needs root (sshd), openssh-server and openssh-client. Prints medians of wall
# time, client CPU, peak RSS and sshd CPU, the floor and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/sbin/sshd ] || { echo "needs /usr/sbin/sshd: apt-get install -y openssh-server" >&2; exit 1; }
cargo build --release --quiet
ulimit -n 65536 2>/dev/null || true
exec python3 bench/facts.py
