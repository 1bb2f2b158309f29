# Joins this node to a hosted cluster; run by podplane in the node container as
#   sh -c "$(join.sh)" join NODE CLUSTER_POD_CIDR NETWORK_SCRIPT
# with the kubeadm JoinConfiguration (it holds the bootstrap token) on stdin.
set -eu
node="$1" cluster_cidr="$2" network_script="$3"
umask 077
mkdir -p /etc/podplane
trap 'rm -f /etc/podplane/join.yaml' EXIT
cat >/etc/podplane/join.yaml

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
kubeadm join --config /etc/podplane/join.yaml
