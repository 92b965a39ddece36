#!/usr/bin/env bash
# Engine overhead benchmark: an N-step playbook of `assert`/`debug` steps,
# run by mkeprep (release build) and, when it can be installed from PyPI into
# a local virtualenv, by ansible-playbook on an equivalent local playbook.
#
#   bench/engine.sh                 # N=10000, ansible with N too
#   N=2000 ANSIBLE_N=500 bench/engine.sh
#   SKIP_ANSIBLE=1 bench/engine.sh
#
# mkeprep-loop is one step with a loop of N debug items (each its own step
# key and journal record), against N separate steps.
#
# Prints wall time, per-step overhead and peak RSS (medians of RUNS runs).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
ANSIBLE_N=${ANSIBLE_N:-$N}
RUNS=${RUNS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -n "${BIN:-}" ]; then
  bin=$BIN # another build to compare (SKIP_LOOP=1 for one without `loop`)
else
  cargo build --release --quiet
  bin=$PWD/target/release/mkeprep
fi

gen_mkeprep() { # n file
  {
    echo "name: bench"
    echo "vars: {n: 1}"
    echo "steps:"
    for ((i = 0; i < $1; i++)); do
      if ((i % 2)); then
        printf '  - id: s%d\n    assert:\n      that: ["n == 1"]\n' "$i"
      else
        printf '  - id: s%d\n    debug:\n      msg: "step %d of {{ n }}"\n' "$i" "$i"
      fi
    done
  } >"$2"
}

gen_loop() { # n file: one step looping n times over debug
  {
    echo "name: bench-loop"
    echo "vars: {n: 1}"
    echo "steps:"
    printf '  - id: each\n    loop: "{{ range(%d) | list }}"\n    debug:\n      msg: "item {{ item }} of {{ n }}"\n' "$1"
  } >"$2"
}

gen_ansible() { # n file
  {
    echo "- hosts: localhost"
    echo "  connection: local"
    echo "  gather_facts: false"
    echo "  vars: {n: 1}"
    echo "  tasks:"
    for ((i = 0; i < $1; i++)); do
      if ((i % 2)); then
        printf '    - name: s%d\n      ansible.builtin.assert:\n        that: ["n == 1"]\n        quiet: true\n' "$i"
      else
        printf '    - name: s%d\n      ansible.builtin.debug:\n        msg: "step %d of {{ n }}"\n' "$i" "$i"
      fi
    done
  } >"$2"
}

# measure CMD...: prints "wall_s rss_kb" (GNU time), exit code must be 0.
measure() {
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/err" || {
    echo "command failed: $*" >&2
    cat "$work/err" >&2
    exit 1
  }
  cat "$work/time"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

bench_cmd() { # label n cmd...
  local label=$1 n=$2
  shift 2
  local walls=() rsss=()
  for ((r = 0; r < RUNS; r++)); do
    read -r w m < <(measure "$@")
    walls+=("$w")
    rsss+=("$m")
  done
  local wall rss
  wall=$(printf '%s\n' "${walls[@]}" | median)
  rss=$(printf '%s\n' "${rsss[@]}" | median)
  echo "$label $n $wall $rss"
}

gen_mkeprep 1 "$work/one.yaml"
gen_mkeprep "$N" "$work/big.yaml"
cd "$work"
base=$(bench_cmd mkeprep-1 1 "$bin" run one.yaml --state-dir "$work/st1" --output json)
big=$(bench_cmd mkeprep "$N" "$bin" run big.yaml --state-dir "$work/st" --output json)
chk=$(bench_cmd mkeprep-check "$N" "$bin" run big.yaml --check --output json)
if [ -z "${SKIP_LOOP:-}" ]; then
  gen_loop "$N" "$work/loop.yaml"
  lp=$(bench_cmd mkeprep-loop "$N" "$bin" run loop.yaml --state-dir "$work/st2" --output json)
fi
cd - >/dev/null

report() { # line base
  read -r label n wall rss <<<"$1"
  read -r _ _ bwall _ <<<"$2"
  awk -v l="$label" -v n="$n" -v w="$wall" -v b="$bwall" -v r="$rss" 'BEGIN {
    per = (w - b) / (n > 1 ? n - 1 : 1) * 1e6;
    printf "%-22s %6d steps  wall %7.2f s  per-step %8.1f us  peak RSS %6.1f MB\n", l, n, w, per, r / 1024 }'
}

echo "== engine overhead (median of $RUNS runs; per-step = (wall - wall of a 1-step run) / (N-1))"
report "$base" "$base"
report "$big" "$base"
report "$chk" "$base"
[ -z "${lp:-}" ] || report "$lp" "$base"

if [ -z "${SKIP_ANSIBLE:-}" ]; then
  venv=bench/.venv
  if [ ! -x "$venv/bin/ansible-playbook" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -q ansible-core >/dev/null 2>&1 ||
      { echo "ansible-core could not be installed from PyPI; skipping the comparison"; exit 0; }
  fi
  gen_ansible 1 "$work/one-ansible.yaml"
  gen_ansible "$ANSIBLE_N" "$work/big-ansible.yaml"
  export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
  RUNS_SAVED=$RUNS
  RUNS=${ANSIBLE_RUNS:-3}
  abase=$(bench_cmd ansible-1 1 "$venv/bin/ansible-playbook" -i localhost, "$work/one-ansible.yaml")
  abig=$(bench_cmd ansible-playbook "$ANSIBLE_N" "$venv/bin/ansible-playbook" -i localhost, "$work/big-ansible.yaml")
  RUNS=$RUNS_SAVED
  aver=$("$venv/bin/ansible-playbook" --version 2>/dev/null | sed -n '1{s/.*core //;s/]//;p}')
  echo "== ansible-playbook $aver (median of ${ANSIBLE_RUNS:-3} runs)"
  report "$abase" "$abase"
  report "$abig" "$abase"
fi
