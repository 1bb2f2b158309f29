//! Address arithmetic on the hosted cluster's ranges.

use std::net::IpAddr;

use ipnet::IpNet;

/// A range the addresses cannot be taken from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("{cidr} is not a CIDR: {reason}")]
    NotACidr { cidr: String, reason: String },
    #[error("{0} is too small")]
    TooSmall(String),
}

/// The first usable address of the Service range: the `kubernetes` Service's cluster IP.
pub fn first_service_ip(service_cidr: &str) -> Result<IpAddr, RangeError> {
    nth_ip(service_cidr, 1)
}

/// The tenth address of the Service range: the cluster DNS Service's IP, as kubeadm does.
pub fn dns_service_ip(service_cidr: &str) -> Result<IpAddr, RangeError> {
    nth_ip(service_cidr, 10)
}

fn nth_ip(cidr: &str, n: u32) -> Result<IpAddr, RangeError> {
    let net: IpNet = cidr
        .parse()
        .map_err(|e: ipnet::AddrParseError| RangeError::NotACidr {
            cidr: cidr.into(),
            reason: e.to_string(),
        })?;
    let mut hosts = net.hosts();
    if let IpNet::V4(_) = net {
        // hosts() already skips the network address for IPv4.
        return hosts
            .nth(n as usize - 1)
            .ok_or_else(|| RangeError::TooSmall(cidr.into()));
    }
    hosts
        .nth(n as usize)
        .ok_or_else(|| RangeError::TooSmall(cidr.into()))
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
