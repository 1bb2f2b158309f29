//! Where a PodMachine is on its way to a Ready Node, in one word: what `podplane status`
//! and `wait` print and what the `podplane_pod_machines` metric counts by.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::PodMachine;
use super::conditions::{NODE_JOINED, POD_RUNNING, READY};

impl PodMachine {
    /// The condition `type_` of the machine's status, if it has one.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
    }

    /// `Deleting`, `Pending` (no status yet), `Ready`, `Failed` (a join or bootstrap that
    /// failed), `Provisioning` (no running Pod), `Joining`, or `NodeNotReady`.
    pub fn phase(&self) -> &'static str {
        let holds = |type_| self.condition(type_).is_some_and(|c| c.status == "True");
        let failed = self
            .condition(READY)
            .is_some_and(|c| c.status == "False" && c.reason.ends_with("Failed"));
        if self.metadata.deletion_timestamp.is_some() {
            "Deleting"
        } else if self.status.is_none() {
            "Pending"
        } else if self.status.as_ref().is_some_and(|s| s.ready) {
            "Ready"
        } else if failed {
            "Failed"
        } else if !holds(POD_RUNNING) {
            "Provisioning"
        } else if !holds(NODE_JOINED) {
            "Joining"
        } else {
            "NodeNotReady"
        }
    }
}
