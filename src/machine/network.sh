#!/bin/sh
# podplane-network NODE CLUSTER_POD_CIDR
# Keeps this node's Pod network in line with the cluster's Nodes (read with the
# kube-system/podplane-node-network ServiceAccount's token), every 5 seconds, or every
# second until the node's own CNI configuration is written:
# - a bridge CNI configuration for the node's spec.podCIDR (once it has one);
# - a route to every other node's podCIDR via that node's InternalIP (worker Pods
#   share one L2 segment in the management cluster);
# - masquerade for traffic from Pods that leaves the cluster's Pod range, so replies
#   from the management network (the hosted API server, DNS) find their way back.
set -u
node="$1" cluster="$2"
conf=/etc/cni/net.d/10-podplane.conflist
# Routes podplane manages carry this routing protocol number.
proto=77
while :; do
  if nodes="$(kubectl --kubeconfig /etc/podplane/network.kubeconfig get nodes -o \
      jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}' 2>/dev/null)"; then
    own="$(printf '%s\n' "${nodes}" | awk -v n="${node}" '$1 == n { print $2 }')"
    if [ -n "${own}" ] && ! grep -qsF "\"${own}\"" "${conf}"; then
      mkdir -p /etc/cni/net.d
      cat >"${conf}.tmp" <<CONF
{"cniVersion": "1.0.0", "name": "podplane", "plugins": [
  {"type": "bridge", "bridge": "podplane0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "${own}"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
CONF
      mv "${conf}.tmp" "${conf}"
    fi
    iptables -t nat -C POSTROUTING -s "${cluster}" ! -d "${cluster}" -m comment --comment podplane -j MASQUERADE 2>/dev/null ||
      iptables -t nat -A POSTROUTING -s "${cluster}" ! -d "${cluster}" -m comment --comment podplane -j MASQUERADE
    printf '%s\n' "${nodes}" | while read -r name cidr address; do
      if [ "${name}" != "${node}" ] && [ -n "${cidr}" ] && [ -n "${address}" ]; then
        ip route replace "${cidr}" via "${address}" proto "${proto}"
      fi
    done
    ip route show proto "${proto}" | while read -r dst _; do
      printf '%s\n' "${nodes}" | awk -v n="${node}" '$1 != n { print $2 }' | grep -qxF "${dst}" ||
        ip route del "${dst}" proto "${proto}"
    done
  fi
  # Quickly until this node's own Pod network is configured (the Node waits on it), then calmly.
  if [ -s "${conf}" ]; then sleep 5; else sleep 1; fi
done
