//! A PodMachine's status, computed from what one reconcile found out.

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::conditions::*;

use crate::api::{MachineAddress, MachineInitialization, NodeReference, PodMachine, PodMachineStatus};

/// Where the machine's Pod stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodState {
    Running,
    /// Created or starting; reason and message from the kubelet when it has one.
    Starting {
        reason: String,
        message: String,
    },
    /// Refused by the management cluster (Pod Security, quota, ...).
    Refused(String),
    /// Gone or failed, and `recreatePod` is off.
    Lost(String),
    /// Not looked at: the machine waits for something else first.
    Unknown(String),
}

/// Where the join stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinState {
    Joined,
    Waiting { reason: &'static str, message: String },
    Failed { reason: &'static str, message: String },
}

/// What one reconcile found out.
pub struct Observed {
    pub pod: PodState,
    pub pod_uid: Option<String>,
    pub pod_ip: Option<String>,
    pub join: JoinState,
    pub node: Option<Node>,
    /// From the Cluster API Machine, when one owns the PodMachine.
    pub failure_domain: Option<String>,
    pub now: Time,
}

impl Observed {
    /// Nothing found out yet, at `now`.
    pub fn new(now: Time) -> Self {
        Self {
            pod: PodState::Unknown(String::new()),
            pod_uid: None,
            pod_ip: None,
            join: JoinState::Waiting {
                reason: reasons::WAITING_FOR_POD,
                message: "the node container is not running yet".into(),
            },
            node: None,
            failure_domain: None,
            now,
        }
    }
}

fn node_ready(node: &Node) -> (bool, String, String) {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    match ready {
        Some(c) => (
            c.status == "True",
            c.reason.clone().unwrap_or_else(|| reasons::KUBELET_READY.into()),
            c.message.clone().unwrap_or_default(),
        ),
        None => (
            false,
            reasons::NODE_STARTING.into(),
            "the kubelet has not reported yet".into(),
        ),
    }
}

fn addresses(node: Option<&Node>, pod_ip: Option<&str>) -> Vec<MachineAddress> {
    let mut addresses: Vec<MachineAddress> = node
        .and_then(|n| n.status.as_ref())
        .and_then(|s| s.addresses.as_ref())
        .map(|list| {
            list.iter()
                .map(|a| MachineAddress {
                    type_: a.type_.clone(),
                    address: a.address.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(ip) = pod_ip
        && !addresses.iter().any(|a| a.address == ip)
    {
        addresses.push(MachineAddress {
            type_: "InternalIP".into(),
            address: ip.into(),
        });
    }
    addresses
}

/// (ok, reason, message) of each part: the Pod, the join, the Node.
fn pod_state(pod: &PodState) -> (bool, &str, String) {
    match pod {
        PodState::Running => (true, reasons::RUNNING, "the node container runs".into()),
        PodState::Starting { reason, message } => (false, reason, message.clone()),
        PodState::Refused(message) => (false, reasons::POD_REFUSED, message.clone()),
        PodState::Lost(message) => (false, reasons::POD_LOST, message.clone()),
        PodState::Unknown(message) => (false, reasons::WAITING, message.clone()),
    }
}

fn join_state(observed: &Observed) -> (bool, &str, String) {
    match &observed.join {
        JoinState::Joined => {
            let node = observed.node.as_ref().and_then(|n| n.metadata.name.clone());
            (
                true,
                reasons::JOINED,
                format!("joined as Node {}", node.unwrap_or_default()),
            )
        }
        JoinState::Waiting { reason, message } => (false, reason, message.clone()),
        JoinState::Failed { reason, message } => (false, reason, message.clone()),
    }
}

pub fn compute(machine: &PodMachine, observed: &Observed) -> PodMachineStatus {
    let generation = machine.metadata.generation;
    let now = &observed.now;
    let previous = machine.status.clone().unwrap_or_default();
    let of = |type_: &str, (ok, reason, message): (bool, &str, String)| {
        condition(type_, ok, reason, message, generation, now)
    };
    let pod = of(POD_RUNNING, pod_state(&observed.pod));
    let joined = of(NODE_JOINED, join_state(observed));
    let node = match &observed.node {
        Some(node) => {
            let (ok, reason, message) = node_ready(node);
            of(NODE_READY, (ok, &reason, message))
        }
        None => of(
            NODE_READY,
            (false, reasons::NO_NODE, "the machine has no Node yet".into()),
        ),
    };
    let ready = match [&pod, &joined, &node].iter().find(|c| c.status != "True") {
        Some(failing) => {
            let message = format!("{} is False: {}", failing.type_, failing.message);
            of(READY, (false, &failing.reason, message))
        }
        None => of(READY, (true, reasons::READY, "the Node is Ready".into())),
    };
    let is_ready = ready.status == "True";
    let mut conditions = vec![ready, pod, joined, node, not_paused(generation, now)];
    keep_transition_times(&mut conditions, &previous.conditions);
    let node_ref = observed.node.as_ref().map(|n| NodeReference {
        name: n.metadata.name.clone().unwrap_or_default(),
        uid: n.metadata.uid.clone(),
    });
    PodMachineStatus {
        ready: is_ready,
        initialization: Some(MachineInitialization {
            provisioned: previous.initialization.is_some_and(|i| i.provisioned)
                || observed.join == JoinState::Joined,
        }),
        addresses: addresses(observed.node.as_ref(), observed.pod_ip.as_deref()),
        node_ref,
        failure_domain: observed.failure_domain.clone(),
        pod_uid: observed.pod_uid.clone().or(previous.pod_uid),
        observed_generation: generation,
        conditions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeAddress, NodeCondition, NodeStatus};

    fn now() -> Time {
        Time(k8s_openapi::jiff::Timestamp::now())
    }

    fn ready_node() -> Node {
        Node {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("w-0".into()),
                uid: Some("node-uid".into()),
                ..Default::default()
            },
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    reason: Some("KubeletReady".into()),
                    ..Default::default()
                }]),
                addresses: Some(vec![NodeAddress {
                    type_: "InternalIP".into(),
                    address: "10.200.0.9".into(),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_joined_ready_node_makes_the_machine_ready_and_provisioned() {
        let node = ready_node();
        let machine = PodMachine::new("w-0", Default::default());
        let observed = Observed {
            pod: PodState::Running,
            pod_uid: Some("pod-uid".into()),
            pod_ip: Some("10.200.0.9".into()),
            join: JoinState::Joined,
            node: Some(node),
            failure_domain: Some("zone-a".into()),
            now: now(),
        };
        let status = compute(&machine, &observed);
        assert!(status.ready);
        assert_eq!(
            status.initialization,
            Some(MachineInitialization { provisioned: true })
        );
        assert_eq!(status.node_ref.unwrap().name, "w-0");
        assert_eq!(status.addresses.len(), 1, "the pod IP is the node's InternalIP");
        assert_eq!(status.pod_uid.as_deref(), Some("pod-uid"));
        assert_eq!(status.failure_domain.as_deref(), Some("zone-a"));
    }

    #[test]
    fn a_lost_pod_is_the_reason_the_machine_is_not_ready_and_provisioned_sticks() {
        let mut machine = PodMachine::new("w-0", Default::default());
        machine.status = Some(PodMachineStatus {
            initialization: Some(MachineInitialization { provisioned: true }),
            pod_uid: Some("old".into()),
            ..Default::default()
        });
        let observed = Observed {
            pod: PodState::Lost("Pod w-0 is gone".into()),
            pod_uid: None,
            pod_ip: None,
            join: JoinState::Waiting {
                reason: reasons::WAITING_FOR_POD,
                message: "no Pod".into(),
            },
            node: None,
            failure_domain: None,
            now: now(),
        };
        let status = compute(&machine, &observed);
        let ready = &status.conditions[0];
        assert_eq!((ready.type_.as_str(), ready.status.as_str()), ("Ready", "False"));
        assert_eq!(ready.reason, "PodLost");
        assert!(ready.message.contains("Pod w-0 is gone"));
        assert!(status.initialization.unwrap().provisioned);
        assert_eq!(
            status.pod_uid.as_deref(),
            Some("old"),
            "the lost Pod's uid is remembered"
        );
    }
}
