//! What the operator's parts agree on with each other, with Cluster API and with kubeadm:
//! label and annotation keys, Secret keys and types, the bootstrap token group.

/// Label: the tool that manages an object ([`MANAGER`]).
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Label: the HostedControlPlane an object belongs to.
pub const INSTANCE: &str = "app.kubernetes.io/instance";
/// Label: the control-plane component an object belongs to, or [`WORKER_COMPONENT`].
pub const COMPONENT: &str = "app.kubernetes.io/component";
/// Label: what the object is (the component's name, or the kind of worker object).
pub const NAME: &str = "app.kubernetes.io/name";
/// Pod-template annotation: the Kubernetes version a control-plane component's Pods run.
pub const VERSION_ANNOTATION: &str = "controlplane.podplane.dev/kubernetes-version";
/// Annotation on a HostedControlPlane: "true" allows moving `spec.version` to an older patch
/// of the same minor.
pub const ALLOW_PATCH_DOWNGRADE: &str = "controlplane.podplane.dev/allow-patch-downgrade";
/// Label: selects the Pod of one etcd member.
pub const ETCD_MEMBER: &str = "controlplane.podplane.dev/etcd-member";
/// Label: Cluster API's name of the cluster an object belongs to.
pub const CLUSTER_NAME: &str = "cluster.x-k8s.io/cluster-name";
/// Label: on a machine's Pod, the name of its PodMachine.
pub const MACHINE_LABEL: &str = "infrastructure.podplane.dev/machine";

/// [`MANAGED_BY`] of everything podplane creates.
pub const MANAGER: &str = "podplane";
/// [`COMPONENT`] of worker Pods and PodMachines.
pub const WORKER_COMPONENT: &str = "worker";

/// Annotation on a machine's Pod: the container ID that ran a successful `kubeadm join`.
/// A restarted container has a fresh root filesystem and must join again.
pub const JOINED_CONTAINER: &str = "infrastructure.podplane.dev/joined-container";

/// Secret key of a certificate (or a public key).
pub const TLS_CERT: &str = "tls.crt";
/// Secret key of a private key.
pub const TLS_KEY: &str = "tls.key";
/// Secret key of a kubeconfig (Cluster API convention).
pub const KUBECONFIG_KEY: &str = "value";
/// Type of the Secrets Cluster API reads (`<cluster>-ca`, `-kubeconfig`, …).
pub const CLUSTER_API_SECRET_TYPE: &str = "cluster.x-k8s.io/secret";

/// Group that kubeadm's default bootstrap tokens authenticate as.
pub const TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
