//! Helpers shared by the environment tests.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use serde_json::json;
use testenv::TestEnv;

/// Deserialises a JSON literal into a Kubernetes type.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("a valid object")
}

/// Creates a plain namespace as admin.
pub(crate) async fn create_namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(
        &PostParams::default(),
        &from_json(json!({ "metadata": { "name": name } })),
    )
    .await
    .expect("namespace created");
}

/// Waits until `check` holds, polling every 250 ms, or panics naming `what`.
pub(crate) async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A directory for a test's files inside the environment's directory.
pub(crate) fn test_dir(name: &str) -> PathBuf {
    let dir = TestEnv::shared().dir().join("test-files").join(name);
    std::fs::create_dir_all(&dir).expect("test directory");
    dir
}
