use std::time::Duration;

use http::Method;

use super::Election;
use crate::controllers::fake_api::FakeApi;
use crate::operator::Settings;

/// The Lease API counts whole seconds.
const LEASE: Duration = Duration::from_secs(1);

fn candidate(fake: &FakeApi, identity: &str) -> Election {
    let settings = Settings {
        leader_election_namespace: Some("podplane-system".into()),
        lease_duration: LEASE,
        renew_deadline: Duration::from_millis(600),
        retry_period: Duration::from_millis(100),
        ..Settings::default()
    };
    Election::new(&fake.client(), &settings, identity.into())
}

fn holder(fake: &FakeApi) -> Option<String> {
    let leases = fake.objects("/leases/podplane");
    leases.first()?["spec"]["holderIdentity"]
        .as_str()
        .map(String::from)
}

#[tokio::test]
async fn one_replica_leads_and_another_waits_while_it_renews() {
    let fake = FakeApi::default();
    let (a, b) = (candidate(&fake, "a"), candidate(&fake, "b"));
    a.acquire().await;
    assert_eq!(holder(&fake).as_deref(), Some("a"));
    let mut seen = None;
    for _ in 0..4 {
        assert!(
            !b.try_hold(&mut seen).await.unwrap(),
            "b took a Lease that a renews"
        );
        assert!(
            a.try_hold(&mut None).await.unwrap(),
            "a could not renew its own Lease"
        );
        tokio::time::sleep(LEASE / 3).await;
    }
    assert_eq!(holder(&fake).as_deref(), Some("a"));
}

#[tokio::test]
async fn a_leader_that_stops_renewing_is_replaced_after_the_lease_duration() {
    let fake = FakeApi::default();
    let (a, b) = (candidate(&fake, "a"), candidate(&fake, "b"));
    a.acquire().await;
    let mut seen = None;
    assert!(!b.try_hold(&mut seen).await.unwrap());
    tokio::time::sleep(LEASE / 2).await;
    assert!(
        !b.try_hold(&mut seen).await.unwrap(),
        "taken before the Lease ran out"
    );
    tokio::time::sleep(LEASE).await;
    assert!(
        b.try_hold(&mut seen).await.unwrap(),
        "not taken after the Lease ran out"
    );
    assert_eq!(holder(&fake).as_deref(), Some("b"));
    let transitions = fake.objects("/leases/podplane")[0]["spec"]["leaseTransitions"].clone();
    assert_eq!(transitions, 1);
    // The old leader, back, finds the Lease taken and gives up leading.
    assert!(!a.try_hold(&mut None).await.unwrap());
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(2), a.hold())
            .await
            .unwrap(),
        "another replica holds the Lease"
    );
}

#[tokio::test]
async fn a_released_lease_is_taken_at_once() {
    let fake = FakeApi::default();
    let (a, b) = (candidate(&fake, "a"), candidate(&fake, "b"));
    a.acquire().await;
    let mut seen = None;
    assert!(!b.try_hold(&mut seen).await.unwrap());
    a.release().await;
    assert_eq!(holder(&fake), None);
    assert!(
        b.try_hold(&mut seen).await.unwrap(),
        "a released Lease was not taken"
    );
}

#[tokio::test]
async fn a_lost_race_is_no_error_and_a_leader_that_cannot_renew_gives_up() {
    let fake = FakeApi::default();
    let a = candidate(&fake, "a");
    a.acquire().await;
    fake.fail(Method::PUT, "/leases/podplane", 409);
    assert!(!a.try_hold(&mut None).await.unwrap(), "a lost write is Ok(false)");
    for _ in 0..20 {
        fake.fail(Method::GET, "/leases/podplane", 500);
    }
    let why = tokio::time::timeout(Duration::from_secs(2), a.hold())
        .await
        .unwrap();
    assert!(why.starts_with("not renewed for"), "{why}");
}
