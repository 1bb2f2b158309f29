//! Where a HostedControlPlane's default images come from.

use std::sync::OnceLock;

use super::HostedControlPlane;

/// The registry used when neither the control plane nor the operator names one.
pub const DEFAULT_IMAGE_REPOSITORY: &str = "registry.k8s.io";

static OPERATOR_IMAGE_REPOSITORY: OnceLock<String> = OnceLock::new();

/// Set the process-wide default (the operator's `--image-repository`); the first call wins.
pub fn set_default_image_repository(repository: String) {
    let _ = OPERATOR_IMAGE_REPOSITORY.set(repository);
}

impl HostedControlPlane {
    /// `spec.imageRepository`, else the operator's default, else registry.k8s.io.
    pub fn image_repository(&self) -> &str {
        self.spec
            .image_repository
            .as_deref()
            .or(OPERATOR_IMAGE_REPOSITORY.get().map(String::as_str))
            .unwrap_or(DEFAULT_IMAGE_REPOSITORY)
    }
}
