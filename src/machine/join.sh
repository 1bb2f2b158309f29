# Joins this node to a hosted cluster; run by podplane in the node container as
#   sh -c "$(join.sh)" join      NODE
#   sh -c "$(join.sh)" bootstrap NODE PROVIDER_ID
# (the mode is $0).
# `join` reads the kubeadm JoinConfiguration (it holds the bootstrap token) on stdin;
# `bootstrap` reads the script made from Cluster API's bootstrap data.
set -eu
mode="$0"
umask 077
mkdir -p /etc/podplane
sentinel=/run/cluster-api/bootstrap-success.complete
if [ "${mode}" = bootstrap ] && [ -e "${sentinel}" ]; then
  echo "already bootstrapped (${sentinel})"
  exit 0
fi
input=/etc/podplane/join.yaml
[ "${mode}" = bootstrap ] && input=/etc/podplane/bootstrap.sh
trap 'rm -f "${input}"' EXIT
cat >"${input}"

# A join that failed half-way left files behind that a new one refuses.
if [ -e /etc/kubernetes/kubelet.conf ] || [ -e /etc/kubernetes/pki/ca.crt ]; then
  kubeadm reset --force >/dev/null 2>&1 || true
fi
if [ "${mode}" = join ]; then
  exec kubeadm join --config /etc/podplane/join.yaml
fi
# The kubelet learns the machine's provider ID from its last-resort flags file, so the
# Node's spec.providerID is the PodMachine's whatever the bootstrap data says.
umask 022
mkdir -p /etc/default
printf 'KUBELET_EXTRA_ARGS=--provider-id=%s\n' "$2" >/etc/default/kubelet
sh "${input}"
