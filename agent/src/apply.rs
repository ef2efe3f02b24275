//! Server-side apply with one field manager, skipped when the cluster already holds what we want.
//!
//! Every object the agent owns is watched into a reflector store ([`Cached`]). Before applying,
//! the desired object is compared with what the store (or the answer to our own last write, while
//! the watch has not caught up) says: when every field we set already has our value, nothing is
//! sent. That is what keeps the agent quiet when nothing changes, and what tells a heal (an object
//! that was right and is not any more) from a first creation.
//!
//! Removing a field from the desired object would still look like a subset, so each desired
//! object carries [`HASH_ANNOTATION`], a hash of everything else we set: a change of what we
//! want changes the hash, and the object is applied again.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt as _, watcher as watch_fn};
use kube::{Api, Resource, ResourceExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;

/// The one field manager of every write the agent makes.
pub const FIELD_MANAGER: &str = "kubenova-agent";

/// Annotation holding a hash of what the agent set on an object.
pub const HASH_ANNOTATION: &str = "kubenova.io/applied-hash";

type Key = (Option<String>, String);

/// A watched kind: a reflector store plus the objects we wrote that the watch has not shown yet.
pub(crate) struct Cached<K: Resource + 'static>
where
    K::DynamicType: Eq + Hash,
{
    store: Store<K>,
    dyntype: K::DynamicType,
    pending: Arc<Mutex<HashMap<Key, Value>>>,
    /// True once the first list is in the store. (Not [`Store::wait_until_ready`]: it wakes only
    /// the last of several tasks waiting at once, and every reconcile waits here.)
    ready: tokio::sync::watch::Receiver<bool>,
}

impl<K: Resource + 'static> Clone for Cached<K>
where
    K::DynamicType: Clone + Eq + Hash,
{
    fn clone(&self) -> Self {
        Cached {
            store: self.store.clone(),
            dyntype: self.dyntype.clone(),
            pending: self.pending.clone(),
            ready: self.ready.clone(),
        }
    }
}

fn rv_of(value: &Value) -> u64 {
    value["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn key_of<K: Resource>(obj: &K) -> Key {
    (obj.namespace(), obj.name_any())
}

fn lock(pending: &Mutex<HashMap<Key, Value>>) -> std::sync::MutexGuard<'_, HashMap<Key, Value>> {
    pending.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a watch hands each of its consumers: the objects that changed (each already in the
/// store), as a controller trigger.
pub(crate) type Trigger<K> = BoxStream<'static, Result<K, watcher::Error>>;

/// Watches `api` (with `config`) into a store, on a task of its own that runs until `stop`;
/// returns the cache and `N` streams of the objects that changed (each already in the store),
/// which callers hand to controllers as triggers (or, for a controller's own kind, as its main
/// stream with [`Cached::store`]).
///
/// The store is driven by its own task rather than by a controller consuming the trigger: a
/// reconcile may then rely on the store without ever waiting on the controller that runs it, and
/// one cache serves every controller that needs the kind (the caches hold every object the agent
/// owns, so each kind is held once). Every trigger exists before the watch starts, so none misses
/// the initial list.
pub(crate) fn watch<K, const N: usize>(
    api: Api<K>,
    config: watcher::Config,
    dyntype: K::DynamicType,
    stop: &CancellationToken,
) -> (Cached<K>, [Trigger<K>; N])
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug + Send + Sync + 'static,
    K::DynamicType: Clone + Eq + Hash + Send + Sync,
{
    let writer = Writer::new(dyntype.clone());
    let store = writer.as_reader();
    let pending: Arc<Mutex<HashMap<Key, Value>>> = Arc::default();
    let seen = pending.clone();
    let (listed, ready) = tokio::sync::watch::channel(false);
    // managedFields are most of an object's size and the agent never reads them: the caches
    // hold every object the agent owns, so they are dropped before caching.
    let watch = watch_fn(api, config)
        .default_backoff()
        .modify(|o| o.managed_fields_mut().clear());
    let stream = reflector::reflector(writer, watch)
        .inspect(move |event| match event {
            Ok(Event::Apply(obj) | Event::InitApply(obj)) => {
                let mut pending = lock(&seen);
                let key = key_of(obj);
                let caught_up = pending.get(&key).is_some_and(|written| {
                    let rv = obj
                        .resource_version()
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                    rv >= rv_of(written)
                });
                if caught_up {
                    pending.remove(&key);
                }
            }
            Ok(Event::Delete(obj)) => {
                lock(&seen).remove(&key_of(obj));
            }
            // The reflector has applied the event by now: the store holds the whole list.
            Ok(Event::InitDone) => {
                listed.send_replace(true);
            }
            _ => {}
        })
        .touched_objects();
    let mut senders = Vec::with_capacity(N);
    let triggers: [Trigger<K>; N] = std::array::from_fn(|_| {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<K>();
        senders.push(tx);
        futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|object| (Ok(object), rx))
        })
        .boxed()
    });
    let stop = stop.clone();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                item = stream.next() => match item {
                    Some(Ok(object)) => {
                        // A controller may be gone (stopping); the store still matters until then.
                        // Every trigger but the last gets a copy; the last gets the object.
                        if let Some((last, others)) = senders.split_last() {
                            for tx in others {
                                let _ = tx.send(object.clone());
                            }
                            let _ = last.send(object);
                        }
                    }
                    Some(Err(e)) => tracing::debug!(error = %e, "watch error; retrying"),
                    None => break,
                },
            }
        }
    });
    (
        Cached {
            store,
            dyntype,
            pending,
            ready,
        },
        triggers,
    )
}

impl<K> Cached<K>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Clone + Eq + Hash + Send + Sync,
{
    /// The store, for a controller whose own kind this is ([`kube::runtime::Controller::for_stream`]).
    pub(crate) fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// Waits until the first list is in the store.
    pub(crate) async fn ready(&self) {
        let mut ready = self.ready.clone();
        // An error only means the watch task is gone, i.e. the agent is stopping: wait for the
        // stop instead of letting a reconcile run on an incomplete cache.
        if ready.wait_for(|listed| *listed).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The object as we last know it: our own write if the watch has not shown it yet.
    pub(crate) fn get(&self, namespace: Option<&str>, name: &str) -> Option<K> {
        let mut reference = ObjectRef::new_with(name, self.dyntype.clone());
        if let Some(ns) = namespace {
            reference = reference.within(ns);
        }
        let stored = self.store.get(&reference);
        let key = (namespace.map(str::to_owned), name.to_owned());
        let written = lock(&self.pending).get(&key).cloned();
        match (stored, written) {
            (Some(stored), Some(written)) => {
                let stored_rv = stored
                    .resource_version()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                if stored_rv >= rv_of(&written) {
                    Some((*stored).clone())
                } else {
                    serde_json::from_value(written)
                        .ok()
                        .or(Some((*stored).clone()))
                }
            }
            (Some(stored), None) => Some((*stored).clone()),
            (None, Some(written)) => serde_json::from_value(written).ok(),
            (None, None) => None,
        }
    }

    fn remember(&self, obj: &K) {
        if let Ok(value) = serde_json::to_value(obj) {
            lock(&self.pending).insert(key_of(obj), value);
        }
    }

    fn forget(&self, namespace: Option<&str>, name: &str) {
        lock(&self.pending).remove(&(namespace.map(str::to_owned), name.to_owned()));
    }
}

/// What [`ensure`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The cluster already had it; nothing was sent.
    Unchanged,
    /// It did not exist; it was created.
    Created,
    /// It existed with other values; they were restored.
    Changed,
}

/// Adds [`HASH_ANNOTATION`] to a desired object.
pub(crate) fn with_hash(mut desired: Value) -> Value {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    desired.to_string().hash(&mut hasher);
    let hash = format!("{:016x}", hasher.finish());
    if let Some(meta) = desired.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(HASH_ANNOTATION.to_owned(), Value::String(hash));
        }
    }
    desired
}

/// Whether every field of `want` has the same value in `have` (arrays element by element).
pub(crate) fn is_subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(want), Value::Object(have)) => {
            want.iter().all(|(key, value)| match have.get(key) {
                Some(existing) => is_subset(value, existing),
                None => is_empty(value),
            })
        }
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len() && want.iter().zip(have).all(|(a, b)| is_subset(a, b))
        }
        _ => want == have,
    }
}

/// Null, `{}` and `[]`: what the apiserver may drop from a stored object.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(list) => list.is_empty(),
        _ => false,
    }
}

/// Makes sure the object `desired` (JSON, with metadata name and, if namespaced, namespace) is
/// in the cluster with our fields: server-side apply with [`FIELD_MANAGER`], forced, unless the
/// cache shows it already is.
pub(crate) async fn ensure<K>(
    api: &Api<K>,
    cache: &Cached<K>,
    desired: Value,
    metrics: &Metrics,
) -> Result<Applied, kube::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Clone + Eq + Hash + Send + Sync,
{
    let desired = with_hash(desired);
    let name = desired["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let namespace = desired["metadata"]["namespace"].as_str().map(str::to_owned);
    let live = cache.get(namespace.as_deref(), &name);
    if let Some(live) = &live {
        let live = serde_json::to_value(live).unwrap_or(Value::Null);
        if is_subset(&desired, &live) {
            return Ok(Applied::Unchanged);
        }
    }
    let written = api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&desired),
        )
        .await?;
    metrics.write("apply", K::kind(&cache.dyntype).as_ref());
    cache.remember(&written);
    Ok(if live.is_some() {
        Applied::Changed
    } else {
        Applied::Created
    })
}

/// Creates `desired` (never overwrites: a name already taken fails with 409).
pub(crate) async fn create<K>(
    api: &Api<K>,
    cache: &Cached<K>,
    desired: Value,
    metrics: &Metrics,
) -> Result<K, kube::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Clone + Eq + Hash + Send + Sync,
{
    let object: K = serde_json::from_value(desired).map_err(kube::Error::SerdeError)?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let written = api.create(&params, &object).await?;
    metrics.write("create", K::kind(&cache.dyntype).as_ref());
    cache.remember(&written);
    Ok(written)
}

/// Deletes an object (background propagation); absent is fine.
pub(crate) async fn delete<K>(
    api: &Api<K>,
    cache: Option<&Cached<K>>,
    namespace: Option<&str>,
    name: &str,
    kind: &str,
    metrics: &Metrics,
) -> Result<(), kube::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Clone + Eq + Hash + Send + Sync,
{
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => metrics.write("delete", kind),
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => return Err(e),
    }
    if let Some(cache) = cache {
        cache.forget(namespace, name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_subset_ignores_fields_others_set() {
        let want =
            json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"l": [{"a": 1}]}});
        let have = json!({"metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "y": "2"}},
                          "spec": {"l": [{"a": 1, "b": 2}], "other": true}});
        assert!(is_subset(&want, &have));
    }

    #[test]
    fn a_changed_value_a_missing_key_or_another_length_is_not_a_subset() {
        let have = json!({"metadata": {"labels": {"x": "1"}}, "spec": {"l": [1, 2]}});
        assert!(!is_subset(
            &json!({"metadata": {"labels": {"x": "2"}}}),
            &have
        ));
        assert!(!is_subset(
            &json!({"metadata": {"labels": {"z": "1"}}}),
            &have
        ));
        assert!(!is_subset(&json!({"spec": {"l": [1]}}), &have));
    }

    #[test]
    fn the_hash_changes_with_the_desired_object_and_only_then() {
        let a = with_hash(json!({"metadata": {"name": "a"}, "spec": {"x": 1}}));
        let b = with_hash(json!({"metadata": {"name": "a"}, "spec": {"x": 1}}));
        let c = with_hash(json!({"metadata": {"name": "a"}, "spec": {}}));
        let hash = |v: &Value| v["metadata"]["annotations"][HASH_ANNOTATION].clone();
        assert_eq!(hash(&a), hash(&b));
        assert_ne!(hash(&a), hash(&c));
    }
}
