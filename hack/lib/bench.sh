# shellcheck shell=bash
# Timing helpers shared by the hack/bench-*.sh programs. Source it.

# now: the time in seconds, with nanoseconds.
now() { date +%s.%N; }
# elapsed START: seconds since START (a `now`).
elapsed() { echo "$(now) - $1" | bc; }
# median N...: the median of the numbers.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# privileged_namespace NS: the namespace NS, created if missing, where worker Pods may run.
privileged_namespace() {
  kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $1
  labels:
    pod-security.kubernetes.io/enforce: privileged
YAML
}
