//! Replacing an object's spec while the agent writes the same object's status, finalizers and
//! annotations: a `409 Conflict` caused only by those is retried on a fresh copy; a spec that
//! someone else changed meanwhile is a real conflict and answers `409 KN-409`.

use std::fmt::Debug;

use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// How many times a replace is tried.
const ATTEMPTS: usize = 5;

/// Writes `write` onto `read` (and, after a conflict, onto a fresh copy whose spec still equals
/// `read`'s by `same_spec`) and replaces the object.
pub(crate) async fn replace_spec<K>(
    api: &Api<K>,
    cluster: &str,
    read: K,
    write: impl Fn(&mut K),
    same_spec: impl Fn(&K, &K) -> bool,
) -> Result<K, ApiError>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    let name = read.name_any();
    let mut current = read.clone();
    for _ in 0..ATTEMPTS {
        let mut next = current.clone();
        write(&mut next);
        match api.replace(&name, &PostParams::default(), &next).await {
            Ok(replaced) => return Ok(replaced),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let fresh = api
                    .get(&name)
                    .await
                    .map_err(|e| ApiError::from_kube(cluster, e))?;
                if !same_spec(&fresh, &read) {
                    return Err(ApiError::conflict(format!(
                        "`{name}` was changed by someone else while this request was handled; read it again and resend"
                    )));
                }
                current = fresh;
            }
            Err(kube::Error::Api(s)) if s.code == 422 => {
                return Err(ApiError::invalid("spec", s.message));
            }
            Err(e) => return Err(ApiError::from_kube(cluster, e)),
        }
    }
    Err(ApiError::conflict(format!(
        "`{name}` kept changing while this request was handled; resend it"
    )))
}
