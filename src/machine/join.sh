# Joins this node to a hosted cluster; run by podplane in the node container as
#   sh -c "$(join.sh)" join      NODE CLUSTER_POD_CIDR NETWORK_SCRIPT
#   sh -c "$(join.sh)" bootstrap NODE CLUSTER_POD_CIDR NETWORK_SCRIPT PROVIDER_ID
# (the mode is $0).
# `join` reads the kubeadm JoinConfiguration (it holds the bootstrap token) on stdin;
# `bootstrap` reads the script made from Cluster API's bootstrap data.
set -eu
mode="$0" node="$1" cluster_cidr="$2" network_script="$3"
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

# Routes and CNI configuration follow the Nodes of the cluster from now on.
printf '%s\n' "${network_script}" >/usr/local/bin/podplane-network
chmod 0755 /usr/local/bin/podplane-network
cat >/etc/systemd/system/podplane-network.service <<UNIT
[Unit]
Description=podplane node network: CNI configuration and routes to the other nodes' Pod ranges
After=kubelet.service
[Service]
ExecStart=/usr/local/bin/podplane-network ${node} ${cluster_cidr}
Restart=always
RestartSec=2
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now podplane-network.service >/dev/null 2>&1

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
printf 'KUBELET_EXTRA_ARGS=--provider-id=%s\n' "$4" >/etc/default/kubelet
sh "${input}"
