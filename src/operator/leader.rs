//! Leader election through a `coordination.k8s.io` Lease: one replica holds it and runs
//! the controllers; the others wait to take it over.
//!
//! A holder is considered gone when its Lease has not changed for the lease duration as
//! measured by this replica's own clock (never by comparing clocks across machines), or at
//! once when it released the Lease on shutdown.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use super::Settings;

pub struct Election {
    api: Api<Lease>,
    pub name: String,
    pub namespace: String,
    pub identity: String,
    lease_duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
}

/// Who this replica is in the Lease: its Pod's name (a restarted container takes its own
/// Lease back at once), else host and process.
pub fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "podplane".into());
        format!("{host}_{}", std::process::id())
    })
}

/// The part of a Lease that changes while its holder renews it.
type Record = (Option<String>, Option<MicroTime>, Option<i32>);

impl Election {
    /// This replica's candidacy for the Lease `settings` name, as `identity`.
    pub fn new(client: &Client, settings: &Settings, identity: String) -> Self {
        let namespace = settings
            .leader_election_namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string());
        Self {
            api: Api::namespaced(client.clone(), &namespace),
            name: settings.leader_election_id.clone(),
            namespace,
            identity,
            lease_duration: settings.lease_duration,
            renew_deadline: settings.renew_deadline,
            retry_period: settings.retry_period,
        }
    }

    /// Wait until this replica holds the Lease.
    pub async fn acquire(&self) {
        let mut seen: Option<(Record, Instant)> = None;
        let mut waiting_logged = false;
        loop {
            match self.try_hold(&mut seen).await {
                Ok(true) => return,
                Ok(false) if !waiting_logged => {
                    tracing::info!(lease = %self.name, "another replica leads; waiting to take over");
                    waiting_logged = true;
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, lease = %self.name, "could not read or take the Lease"),
            }
            tokio::time::sleep(self.retry_period).await;
        }
    }

    /// Renew the Lease every retry period; returns why leadership was lost when a renewal
    /// has not succeeded for the renew deadline, or another replica took the Lease.
    pub async fn hold(&self) -> String {
        let mut renewed = Instant::now();
        let mut seen = None;
        loop {
            tokio::time::sleep(self.retry_period).await;
            let attempt = tokio::time::timeout(self.retry_period, self.try_hold(&mut seen)).await;
            match attempt {
                Ok(Ok(true)) => renewed = Instant::now(),
                Ok(Ok(false)) => return "another replica holds the Lease".into(),
                Ok(Err(error)) => tracing::warn!(%error, "could not renew the Lease"),
                Err(_) => tracing::warn!("renewing the Lease timed out"),
            }
            if renewed.elapsed() > self.renew_deadline {
                return format!("not renewed for {}s", self.renew_deadline.as_secs());
            }
        }
    }

    /// Give the Lease up (on shutdown) so another replica takes over without waiting for
    /// it to expire.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(&self.identity) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!(lease = %self.name, "released the Lease"),
            Err(error) => tracing::warn!(%error, "could not release the Lease"),
        }
    }

    /// Take or renew the Lease when it is ours, free, released or expired; `Ok(false)`
    /// while another replica holds it (or won a race for it).
    pub(super) async fn try_hold(&self, seen: &mut Option<(Record, Instant)>) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    lease_transitions: Some(0),
                    ..self.spec(None)
                }),
            };
            return written(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        if holder.as_deref().is_some_and(|h| h != self.identity) {
            let record = (holder, spec.renew_time.clone(), spec.lease_transitions);
            let since = match seen.take() {
                Some((last, at)) if last == record => at,
                _ => Instant::now(),
            };
            *seen = Some((record, since));
            let duration = spec
                .lease_duration_seconds
                .map_or(self.lease_duration, |s| Duration::from_secs(s.max(0) as u64));
            if since.elapsed() < duration {
                return Ok(false);
            }
            tracing::info!(lease = %self.name, "the leader stopped renewing; taking over");
        }
        lease.spec = Some(self.spec(Some(spec)));
        written(self.api.replace(&self.name, &PostParams::default(), &lease).await)
    }

    /// The Lease's spec with this replica holding it, renewed now.
    fn spec(&self, before: Option<LeaseSpec>) -> LeaseSpec {
        let before = before.unwrap_or_default();
        let ours = before.holder_identity.as_deref() == Some(&self.identity);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.lease_duration.as_secs() as i32),
            acquire_time: if ours { before.acquire_time } else { Some(now()) },
            renew_time: Some(now()),
            lease_transitions: Some(before.lease_transitions.unwrap_or(0) + i32::from(!ours)),
            ..before
        }
    }
}

/// A write lost to another replica's (409 Conflict or AlreadyExists) is not an error.
fn written(result: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

#[cfg(test)]
#[path = "leader_tests.rs"]
mod tests;
