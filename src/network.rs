//! Address arithmetic on the hosted cluster's ranges.

use std::net::IpAddr;

use ipnet::IpNet;

/// The first usable address of the Service range: the `kubernetes` Service's cluster IP.
pub fn first_service_ip(service_cidr: &str) -> Result<IpAddr, String> {
    nth_ip(service_cidr, 1)
}

/// The tenth address of the Service range: the cluster DNS Service's IP, as kubeadm does.
pub fn dns_service_ip(service_cidr: &str) -> Result<IpAddr, String> {
    nth_ip(service_cidr, 10)
}

fn nth_ip(cidr: &str, n: u32) -> Result<IpAddr, String> {
    let net: IpNet = cidr.parse().map_err(|e| format!("{cidr} is not a CIDR: {e}"))?;
    let mut hosts = net.hosts();
    if let IpNet::V4(_) = net {
        // hosts() already skips the network address for IPv4.
        return hosts
            .nth(n as usize - 1)
            .ok_or_else(|| format!("{cidr} is too small"));
    }
    hosts
        .nth(n as usize)
        .ok_or_else(|| format!("{cidr} is too small"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeadm_addresses() {
        assert_eq!(first_service_ip("10.96.0.0/12").unwrap().to_string(), "10.96.0.1");
        assert_eq!(dns_service_ip("10.96.0.0/12").unwrap().to_string(), "10.96.0.10");
        assert_eq!(
            first_service_ip("fd00:10:96::/108").unwrap().to_string(),
            "fd00:10:96::1"
        );
    }
}
