#!/bin/sh
# One cluster's job in a fleet pipeline (gitlab-fleet.yml, github-fleet.yml):
# mkeprep against the cluster named CLUSTER, with that cluster's own state
# directory (cache it per cluster: a retried job resumes) and its own reports
# (collect them as artifacts). The pipeline runs one job per cluster; this
# script knows nothing of the others.
#
# Environment:
#   CLUSTER        the cluster's name from the pipeline's list (a-z, 0-9, '-'); required
#   MODE           check (default): --check, the gate; exit 3 means changes are pending
#                  apply: the real run with --yes (approve it in the pipeline first)
#   PLAYBOOK       default playbooks/upgrade-prep.yaml
#   FLEET_STATE    state directories, one per cluster: $FLEET_STATE/$CLUSTER
#                  (default .mkeprep-fleet)
#   FLEET_REPORTS  reports: $FLEET_REPORTS/$CLUSTER-$MODE.html (readiness report)
#                  and .xml (JUnit) (default reports)
#   CLUSTER_DIR    the cluster's connection files (default clusters/$CLUSTER):
#                  hosts.yaml, mke-ca.pem, known_hosts, each used when present
#                  and not already given as MKEPREP_INVENTORY, MKEPREP_CA_CERT,
#                  MKEPREP_KNOWN_HOSTS
#   MKE_HOST, MKE_USERNAME, MKE_PASSWORD
#                  the cluster's API, from the pipeline's per-cluster secrets
#   MKEPREP        the mkeprep program (default: mkeprep on PATH)
#   MKEPREP_ARGS   more arguments for `mkeprep run`, split on spaces (e.g. -e target=4.2.1)
#   MKEPREP_FLEET_SANDBOX=1
#                  rehearse against the embedded sandbox instead of the cluster
#                  (no connection needed; each cluster gets its own sandbox)
#
# Exit: mkeprep's own code, for the pipeline to read: 0 ready (check) or
# applied, 3 changes pending (check), 1 blocked or failed, 2 invalid input,
# 4 the state directory is locked, 130 interrupted (retry to resume).
set -eu

: "${CLUSTER:?set CLUSTER to the cluster's name}"
case "$CLUSTER" in
  *[!a-z0-9-]* | -*)
    echo "fleet-job: CLUSTER '$CLUSTER' must be lower-case letters, digits and '-'" >&2
    exit 2 ;;
esac
MODE=${MODE:-check}
case "$MODE" in
  check) set -- --check ;;
  apply) set -- --yes ;;
  *) echo "fleet-job: MODE must be check or apply, not '$MODE'" >&2; exit 2 ;;
esac
PLAYBOOK=${PLAYBOOK:-playbooks/upgrade-prep.yaml}
FLEET_STATE=${FLEET_STATE:-.mkeprep-fleet}
FLEET_REPORTS=${FLEET_REPORTS:-reports}
MKEPREP=${MKEPREP:-mkeprep}

if [ "${MKEPREP_FLEET_SANDBOX:-}" = 1 ]; then
  set -- "$@" --sandbox
else
  dir=${CLUSTER_DIR:-clusters/$CLUSTER}
  if [ -z "${MKEPREP_INVENTORY:-}" ] && [ -f "$dir/hosts.yaml" ]; then
    export MKEPREP_INVENTORY="$dir/hosts.yaml"
  fi
  if [ -z "${MKEPREP_CA_CERT:-}" ] && [ -f "$dir/mke-ca.pem" ]; then
    export MKEPREP_CA_CERT="$dir/mke-ca.pem"
  fi
  if [ -z "${MKEPREP_KNOWN_HOSTS:-}" ] && [ -f "$dir/known_hosts" ]; then
    export MKEPREP_KNOWN_HOSTS="$dir/known_hosts"
  fi
  if [ -z "${MKE_HOST:-}" ]; then
    echo "fleet-job: MKE_HOST is not set for cluster $CLUSTER (map the cluster's secrets in the pipeline, or set MKEPREP_FLEET_SANDBOX=1 to rehearse)" >&2
    exit 2
  fi
fi

mkdir -p "$FLEET_REPORTS"
report="$FLEET_REPORTS/$CLUSTER-$MODE"
# shellcheck disable=SC2086 # MKEPREP_ARGS is split on purpose
set +e
"$MKEPREP" run "$PLAYBOOK" "$@" ${MKEPREP_ARGS:-} \
  --state-dir "$FLEET_STATE/$CLUSTER" \
  --junit "$report.xml" --report "$report.html"
code=$?
set -e

case "$code" in
  0) what="ready" ;;
  3) what="changes pending: approve the apply job for $CLUSTER" ;;
  1) what="not ready: the report says what to do" ;;
  2) what="invalid playbook, inventory or variables" ;;
  4) what="another run holds $FLEET_STATE/$CLUSTER" ;;
  130) what="interrupted: retry the job to resume" ;;
  *) what="unexpected exit" ;;
esac
echo "fleet-job: $CLUSTER ($MODE): exit $code, $what; report $report.html"
exit "$code"
