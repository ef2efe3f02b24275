//! The recent audit events, readable back (`GET /api/v1/audit`, ADR 0026).
//!
//! Every replica keeps the last `capacity` events it recorded in memory and writes them, about
//! once a second when there are new ones, into a ConfigMap of its own in the management
//! namespace (`kubenova-audit-<replica>`, label `kubenova.io/audit=events`, key `events.jsonl`:
//! the same JSON lines as the audit log). Only that replica writes that ConfigMap, so there is
//! nothing to coordinate. A reader lists every such ConfigMap and takes its own replica's events
//! from memory (so an event is readable at once where it was recorded, and within the flush
//! interval everywhere else). A replica that is gone leaves its ConfigMap behind; any replica
//! deletes rings that have not been written for the retention period.
//!
//! The lines are the audit log's own: who, what, which path, how it ended, a `jti` at most; never
//! a token, a kubeconfig or a request body.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt as _};
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The label every ring carries (value `events`).
pub const LABEL: &str = "kubenova.io/audit";
/// The annotation naming the replica that writes a ring.
pub const REPLICA_ANNOTATION: &str = "kubenova.io/audit-replica";
/// The annotation with the time a ring was last written (RFC 3339).
pub const UPDATED_ANNOTATION: &str = "kubenova.io/audit-updated";
/// The data key of the events, one JSON line each, oldest first.
pub const DATA_KEY: &str = "events.jsonl";
/// The most events one ring may keep (`--audit-events`).
pub const MAX_CAPACITY: usize = 2000;
/// The most bytes of events one ring writes (a ConfigMap holds at most 1 MiB).
pub const MAX_BYTES: usize = 900 * 1024;
/// How long new events wait to be written with the ones after them.
pub const FLUSH_DELAY: Duration = Duration::from_millis(500);
/// The field manager of ring writes.
const MANAGER: &str = "kubenova-control-audit";

/// One replica's recent events, and where they are kept.
pub struct Ring {
    replica: String,
    name: String,
    capacity: usize,
    retention: Duration,
    namespace: String,
    client: Client,
    lines: Mutex<VecDeque<String>>,
    dirty: Notify,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("replica", &self.replica)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// The events of one replica, as read.
#[derive(Debug, Clone)]
pub struct Source {
    /// The replica that recorded them.
    pub replica: String,
    /// Its lines, oldest first.
    pub lines: Vec<String>,
    /// When its ring was last written (`None` for this replica's own, read from memory).
    pub updated: Option<String>,
}

/// `--audit-events` out of range.
#[derive(Debug, thiserror::Error)]
#[error(
    "--audit-events={0}: keep between 0 (no readable audit store) and {MAX_CAPACITY} events per replica"
)]
pub struct CapacityError(pub usize);

/// The ConfigMap name of `replica`'s ring: `kubenova-audit-` and the replica's name reduced to
/// what a Kubernetes name may hold.
pub fn ring_name(replica: &str) -> String {
    let mut clean: String = replica
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    clean.truncate(200);
    let clean = clean.trim_matches(|c| c == '-' || c == '.');
    if clean.is_empty() {
        "kubenova-audit-replica".into()
    } else {
        format!("kubenova-audit-{clean}")
    }
}

/// Keeps the newest lines of `lines` whose joined size fits [`MAX_BYTES`].
fn fit(lines: &VecDeque<String>) -> String {
    let mut size = 0;
    let mut keep = 0;
    for line in lines.iter().rev() {
        if size + line.len() + 1 > MAX_BYTES {
            break;
        }
        size += line.len() + 1;
        keep += 1;
    }
    let mut out = String::with_capacity(size);
    for line in lines.iter().skip(lines.len() - keep) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn parse_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

impl Ring {
    /// A ring for `replica` keeping `capacity` events, written in `namespace`; loads what the
    /// same replica wrote before (a restart under the same name).
    pub async fn load(
        client: Client,
        namespace: &str,
        replica: &str,
        capacity: usize,
        retention: Duration,
    ) -> Result<Ring, RingError> {
        if capacity > MAX_CAPACITY {
            return Err(RingError::Capacity(CapacityError(capacity)));
        }
        let name = ring_name(replica);
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let mut lines = VecDeque::new();
        if let Some(cm) = api.get_opt(&name).await.map_err(RingError::Kube)? {
            let text = cm
                .data
                .as_ref()
                .and_then(|d| d.get(DATA_KEY))
                .cloned()
                .unwrap_or_default();
            lines.extend(parse_lines(&text));
            while lines.len() > capacity {
                lines.pop_front();
            }
        }
        Ok(Ring {
            replica: replica.to_owned(),
            name,
            capacity,
            retention,
            namespace: namespace.to_owned(),
            client,
            lines: Mutex::new(lines),
            dirty: Notify::new(),
        })
    }

    /// This replica's name.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// How many events each replica keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        match self.lines.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Keeps one audit line (without its newline).
    pub fn push(&self, line: &str) {
        if self.capacity == 0 {
            return;
        }
        {
            let mut lines = self.lock();
            lines.push_back(line.to_owned());
            while lines.len() > self.capacity {
                lines.pop_front();
            }
        }
        self.dirty.notify_one();
    }

    /// Every replica's events: this one's from memory, the others' from their rings.
    pub async fn read(&self) -> Result<Vec<Source>, kube::Error> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let rings = api
            .list(&ListParams::default().labels(&format!("{LABEL}=events")))
            .await?;
        let mut sources = vec![Source {
            replica: self.replica.clone(),
            lines: self.lock().iter().cloned().collect(),
            updated: None,
        }];
        for cm in rings.items {
            if cm.name_any() == self.name {
                continue;
            }
            let replica = cm
                .annotations()
                .get(REPLICA_ANNOTATION)
                .cloned()
                .unwrap_or_else(|| cm.name_any());
            let updated = cm.annotations().get(UPDATED_ANNOTATION).cloned();
            let text = cm
                .data
                .as_ref()
                .and_then(|d| d.get(DATA_KEY))
                .map(String::as_str)
                .unwrap_or_default();
            sources.push(Source {
                replica,
                lines: parse_lines(text),
                updated,
            });
        }
        Ok(sources)
    }

    /// Writes the ring now.
    pub async fn flush(&self) -> Result<(), kube::Error> {
        let text = fit(&self.lock());
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let cm = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.name,
                "labels": {
                    LABEL: "events",
                    "app.kubernetes.io/managed-by": "kubenova",
                },
                "annotations": {
                    REPLICA_ANNOTATION: self.replica,
                    UPDATED_ANNOTATION: super::rfc3339_now(),
                },
            },
            "data": { DATA_KEY: text },
        });
        api.patch(
            &self.name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&cm),
        )
        .await
        .map(drop)
    }

    /// Deletes other replicas' rings not written for the retention period.
    pub async fn prune(&self) -> Result<usize, kube::Error> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let rings = api
            .list(&ListParams::default().labels(&format!("{LABEL}=events")))
            .await?;
        let now = super::super::keys::time_now();
        let oldest = now - i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX);
        let mut deleted = 0;
        for cm in rings.items {
            if cm.name_any() == self.name {
                continue;
            }
            let written = cm
                .annotations()
                .get(UPDATED_ANNOTATION)
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                .map(|t| t.as_second());
            if written.is_some_and(|w| w < oldest) {
                api.delete(&cm.name_any(), &DeleteParams::default()).await?;
                tracing::info!(
                    ring = cm.name_any(),
                    "deleted an audit ring not written for the retention period"
                );
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Writes the ring whenever events arrive (batched over [`FLUSH_DELAY`]) and prunes old
    /// rings hourly, until `shutdown`; then writes once more.
    pub async fn run(self: std::sync::Arc<Self>, shutdown: CancellationToken) {
        let mut prune = tokio::time::interval(Duration::from_secs(3600));
        let mut failures = 0u32;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.dirty.notified() => {
                    tokio::time::sleep(FLUSH_DELAY).await;
                    match self.flush().await {
                        Ok(()) => failures = 0,
                        Err(e) => {
                            failures = failures.saturating_add(1);
                            tracing::warn!("cannot write the audit ring {}: {e}", self.name);
                            let wait = Duration::from_secs(u64::from(failures.min(30)));
                            tokio::time::sleep(wait).await;
                            self.dirty.notify_one();
                        }
                    }
                }
                _ = prune.tick() => {
                    if let Err(e) = self.prune().await {
                        tracing::warn!("cannot prune old audit rings: {e}");
                    }
                }
            }
        }
        if let Err(e) = self.flush().await {
            tracing::warn!("cannot write the audit ring {} at shutdown: {e}", self.name);
        }
    }

    /// The ConfigMap's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Why a ring could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// `--audit-events` out of range.
    #[error(transparent)]
    Capacity(#[from] CapacityError),
    /// The management cluster refused.
    #[error("reading this replica's audit ring: {0}")]
    Kube(kube::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_names_are_kubernetes_names() {
        assert_eq!(
            ring_name("kubenova-control-7d9f-abc-1"),
            "kubenova-audit-kubenova-control-7d9f-abc-1"
        );
        assert_eq!(ring_name("Host_A/42"), "kubenova-audit-host-a-42");
        assert_eq!(ring_name("__"), "kubenova-audit-replica");
        assert!(ring_name(&"x".repeat(400)).len() <= 253);
    }

    #[test]
    fn fit_keeps_the_newest_lines_within_the_byte_limit() {
        let line = "y".repeat(1000);
        let lines: VecDeque<String> = (0..2000).map(|i| format!("{i:04}{line}")).collect();
        let text = fit(&lines);
        assert!(text.len() <= MAX_BYTES, "{}", text.len());
        assert!(text.ends_with(&format!("1999{line}\n")));
        assert!(!text.contains(&format!("0000{line}")));
        let few: VecDeque<String> = ["a".to_owned(), "b".to_owned()].into();
        assert_eq!(fit(&few), "a\nb\n");
    }
}
