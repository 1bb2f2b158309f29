//! A Cluster API cluster upgraded the Cluster API way: the control plane's `spec.version`
//! first, then the MachineDeployment's, which rolls its Machines onto new PodMachines.

use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use podplane::api::HostedControlPlane;
use podplane::versions::DEFAULT_KUBERNETES_VERSION as CURRENT;
use serde_json::json;

use crate::capi_support::*;
use crate::harness::{TestNamespace, eventually};
use crate::upgrade::PREVIOUS;

const ROLL: Duration = Duration::from_secs(420);

async fn kubelets(hosted: &Client) -> Result<Vec<String>, String> {
    let nodes = Api::<Node>::all(hosted.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(nodes
        .items
        .iter()
        .filter_map(|n| Some(n.status.as_ref()?.node_info.as_ref()?.kubelet_version.clone()))
        .collect())
}

#[tokio::test]
#[ignore = "needs the local cluster with Cluster API, podplane and hack/previous-release.sh: hack/test.sh"]
async fn cluster_api_rolls_machines_after_the_control_plane_upgrade() {
    let ns = TestNamespace::with_pod_security("podplane-capi-up", Some("privileged")).await;
    let manifest = clusterctl(&[
        "generate",
        "cluster",
        "old",
        "--infrastructure",
        "podplane",
        "--kubernetes-version",
        PREVIOUS,
        "--worker-machine-count",
        "1",
        "--target-namespace",
        &ns.name,
    ]);
    kubectl(&["apply", "-f", "-"], &manifest);
    let before = running_machines(&ns, "old", 1, ROLL).await;
    let hosted = client_from_clusterctl(&ns, "old", "old").await;
    assert_eq!(kubelets(&hosted).await.unwrap(), [PREVIOUS]);

    // The control plane first: its status.version is what Cluster API checks new Machines against.
    ns.api::<HostedControlPlane>()
        .patch(
            "old",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"version": CURRENT}})),
        )
        .await
        .unwrap();
    eventually("control plane on the new version", ROLL, || async {
        let hcp = ns
            .api::<HostedControlPlane>()
            .get("old")
            .await
            .map_err(|e| e.to_string())?;
        let status = hcp.status.unwrap_or_default();
        let rolling = status
            .conditions
            .iter()
            .find(|c| c.type_ == "RollingOut")
            .map(|c| c.reason.clone());
        (status.version.as_deref() == Some(CURRENT) && rolling.as_deref() == Some("UpToDate"))
            .then_some(())
            .ok_or(format!(
                "status.version {:?}, RollingOut {rolling:?}",
                status.version
            ))
    })
    .await;

    // Then the MachineDeployment: its template names no image, so each new PodMachine runs
    // kindest/node:<control plane version>.
    let deployments = capi(&ns, "MachineDeployment", "machinedeployments");
    let patch = json!({"spec": {"template": {"spec": {"version": CURRENT}}}});
    deployments
        .patch("old-md-0", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let after = eventually(
        "the Machine replaced, its Node on the new kubelet",
        ROLL,
        || async {
            let running = machines_running(&ns, "old", 1).await?;
            let versions = kubelets(&hosted).await?;
            (running[0].0 != before[0].0 && versions == [CURRENT])
                .then(|| running.clone())
                .ok_or(format!("machines {running:?}, kubelets {versions:?}"))
        },
    )
    .await;
    println!("Machine {} replaced by {} on {CURRENT}", before[0].0, after[0].0);
}
