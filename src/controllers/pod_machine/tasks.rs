//! Long node work (a join, a drain) runs beside the reconcile, one task per machine at a
//! time; the task's end triggers the machine's next reconcile, which reads its outcome.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use k8s_openapi::jiff::Timestamp;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

use super::status::JoinState;
use crate::controllers::cache::MachineRef;

/// What a machine's task is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    Join,
    Drain,
}

/// How a task ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The node container `container` joined.
    Joined {
        container: String,
    },
    /// Not joined: waiting for something, or failed; the next attempt starts at `retry_at`.
    NotJoined {
        state: JoinState,
        retry_at: Instant,
    },
    Drained,
}

/// Where a machine's task stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskState {
    Idle,
    /// Running since `since` (wall-clock, so a status that names it stays the same).
    Running {
        work: Work,
        since: Timestamp,
    },
    Ended(Outcome),
}

enum Entry {
    Running {
        work: Work,
        since: Timestamp,
        abort: AbortHandle,
    },
    Ended(Outcome),
}

/// The tasks of every machine, by machine uid.
pub struct Tasks {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    notify: UnboundedSender<MachineRef>,
}

fn lock(entries: &Mutex<HashMap<String, Entry>>) -> MutexGuard<'_, HashMap<String, Entry>> {
    entries.lock().expect("no task panics while holding it")
}

impl Tasks {
    pub fn new(notify: UnboundedSender<MachineRef>) -> Self {
        Self {
            entries: Default::default(),
            notify,
        }
    }

    pub fn state(&self, uid: &str) -> TaskState {
        match lock(&self.entries).get(uid) {
            None => TaskState::Idle,
            Some(Entry::Running { work, since, .. }) => TaskState::Running {
                work: *work,
                since: *since,
            },
            Some(Entry::Ended(outcome)) => TaskState::Ended(outcome.clone()),
        }
    }

    /// Start `work` for the machine `uid` (`machine` is reconciled when it ends), unless a
    /// task runs for it already.
    pub fn start(
        &self,
        uid: &str,
        machine: MachineRef,
        work: Work,
        task: impl Future<Output = Outcome> + Send + 'static,
    ) {
        let mut entries = lock(&self.entries);
        if matches!(entries.get(uid), Some(Entry::Running { .. })) {
            return;
        }
        let (shared, notify, key) = (self.entries.clone(), self.notify.clone(), uid.to_string());
        let handle = tokio::spawn(async move {
            let outcome = task.await;
            lock(&shared).insert(key, Entry::Ended(outcome));
            let _ = notify.send(machine);
        });
        let entry = Entry::Running {
            work,
            since: Timestamp::now(),
            abort: handle.abort_handle(),
        };
        entries.insert(uid.to_string(), entry);
    }

    /// Forget an ended task's outcome (the next reconcile may start another task).
    pub fn clear(&self, uid: &str) {
        let mut entries = lock(&self.entries);
        if matches!(entries.get(uid), Some(Entry::Ended(_))) {
            entries.remove(uid);
        }
    }

    /// Stop the machine's task, if one runs, and forget it.
    pub fn cancel(&self, uid: &str) {
        if let Some(Entry::Running { abort, .. }) = lock(&self.entries).remove(uid) {
            abort.abort();
        }
    }

    pub fn is_empty(&self) -> bool {
        lock(&self.entries).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_runs_once_per_machine_reports_its_end_and_can_be_cancelled() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let tasks = Tasks::new(tx);
        let machine = MachineRef::new("w-0").within("t");
        tasks.start("uid", machine.clone(), Work::Drain, async { Outcome::Drained });
        tasks.start("uid", machine.clone(), Work::Join, async {
            Outcome::Joined {
                container: "c".into(),
            }
        });
        assert_eq!(rx.recv().await, Some(machine.clone()));
        assert_eq!(tasks.state("uid"), TaskState::Ended(Outcome::Drained));
        tasks.clear("uid");
        assert_eq!(tasks.state("uid"), TaskState::Idle);

        tasks.start("uid", machine, Work::Join, std::future::pending());
        assert!(matches!(
            tasks.state("uid"),
            TaskState::Running { work: Work::Join, .. }
        ));
        tasks.cancel("uid");
        assert_eq!(tasks.state("uid"), TaskState::Idle);
        assert!(tasks.is_empty());
    }
}
