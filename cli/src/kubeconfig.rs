//! `--merge`: a kubeconfig's cluster, user and context into kubectl's file, entries of the same
//! name replaced, every other entry and field left as it was.

use std::path::PathBuf;

use serde_yaml::{Mapping, Value};

use crate::api::Error;

/// The file kubectl reads first: `$KUBECONFIG`'s first entry, else `~/.kube/config`.
pub(crate) fn target() -> Result<PathBuf, Error> {
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty())
        && let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty())
    {
        return Ok(first);
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::Other("HOME is not set: set KUBECONFIG".into()))?;
    Ok(PathBuf::from(home).join(".kube").join("config"))
}

/// Merges `new` into `existing`; answers the merged document and the new context's name.
pub(crate) fn merged(
    existing: Option<&str>,
    new: &str,
    use_context: bool,
) -> Result<(Value, String), Error> {
    let new: Value = serde_yaml::from_str(new)
        .map_err(|e| Error::Other(format!("the kubeconfig from the server is not YAML: {e}")))?;
    let mut doc: Value = match existing.filter(|t| !t.trim().is_empty()) {
        Some(text) => serde_yaml::from_str(text)
            .map_err(|e| Error::Other(format!("the existing kubeconfig is not YAML: {e}")))?,
        None => {
            let mut m = Mapping::new();
            m.insert("apiVersion".into(), "v1".into());
            m.insert("kind".into(), "Config".into());
            m.insert("preferences".into(), Value::Mapping(Mapping::new()));
            Value::Mapping(m)
        }
    };
    let map = doc
        .as_mapping_mut()
        .ok_or_else(|| Error::Other("the existing kubeconfig is not a mapping".into()))?;
    for section in ["clusters", "users", "contexts"] {
        let entries = new
            .get(section)
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        let list = map
            .entry(section.into())
            .or_insert_with(|| Value::Sequence(Vec::new()));
        if list.is_null() {
            *list = Value::Sequence(Vec::new());
        }
        let list = list.as_sequence_mut().ok_or_else(|| {
            Error::Other(format!("the existing kubeconfig's {section} is not a list"))
        })?;
        for entry in entries {
            let name = entry.get("name").cloned();
            match list.iter_mut().find(|e| e.get("name") == name.as_ref()) {
                Some(e) => *e = entry,
                None => list.push(entry),
            }
        }
    }
    let context = new
        .get("current-context")
        .and_then(Value::as_str)
        .or_else(|| {
            new.get("contexts")
                .and_then(Value::as_sequence)
                .and_then(|c| c.first())
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str)
        })
        .ok_or_else(|| Error::Other("the kubeconfig from the server names no context".into()))?
        .to_owned();
    if use_context {
        map.insert("current-context".into(), Value::String(context.clone()));
    }
    Ok((doc, context))
}

/// Pins the `kubenova credential` exec entries of `kubeconfig` to `context` (and to the config
/// file `config_file`, when given), so kubectl's plugin uses this sign-in whatever the current
/// context is later.
pub(crate) fn pin_exec(
    kubeconfig: &str,
    context: &str,
    config_file: Option<&std::path::Path>,
) -> Result<String, Error> {
    let mut doc: Value = serde_yaml::from_str(kubeconfig)
        .map_err(|e| Error::Other(format!("the kubeconfig from the server is not YAML: {e}")))?;
    let users = doc
        .get_mut("users")
        .and_then(Value::as_sequence_mut)
        .ok_or_else(|| Error::Other("the kubeconfig from the server has no users".into()))?;
    let mut pinned = 0;
    for user in users {
        let Some(exec) = user.get_mut("user").and_then(|u| u.get_mut("exec")) else {
            continue;
        };
        let Some(args) = exec.get_mut("args").and_then(Value::as_sequence_mut) else {
            continue;
        };
        if args.first().and_then(Value::as_str) != Some("credential") {
            continue;
        }
        args.insert(1, Value::from("--context"));
        args.insert(2, Value::from(context));
        if let Some(path) = config_file
            && let Some(map) = exec.as_mapping_mut()
        {
            let mut var = Mapping::new();
            var.insert("name".into(), "KUBENOVA_CONFIG".into());
            var.insert("value".into(), path.display().to_string().into());
            map.insert("env".into(), Value::Sequence(vec![Value::Mapping(var)]));
        }
        pinned += 1;
    }
    if pinned == 0 {
        return Err(Error::Other(
            "the server answered a kubeconfig without the `kubenova credential` exec entry".into(),
        ));
    }
    serde_yaml::to_string(&doc).map_err(|e| Error::Other(e.to_string()))
}

/// Merges `new` into kubectl's file (written 0600, atomically).
pub(crate) fn merge(new: &str, use_context: bool) -> Result<(PathBuf, String), Error> {
    let path = target()?;
    let existing = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::Other(format!("reading {}: {e}", path.display()))),
    };
    let (doc, context) = merged(existing.as_deref(), new, use_context)?;
    let text = serde_yaml::to_string(&doc).map_err(|e| Error::Other(e.to_string()))?;
    crate::config::write_private(&path, text.as_bytes())?;
    Ok((path, context))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: local-acme-shop\n  cluster: {server: 'https://p:1'}\nusers:\n- name: local-acme-shop\n  user: {token: new}\ncontexts:\n- name: local-acme-shop\n  context: {cluster: local-acme-shop, user: local-acme-shop, namespace: acme-shop}\ncurrent-context: local-acme-shop\n";

    #[test]
    fn merge_keeps_others_and_replaces_same_names() {
        let existing = "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: 'https://o:1'}\n- name: local-acme-shop\n  cluster: {server: 'https://old:1'}\nusers:\n- name: other\n  user: {token: keep}\ncontexts:\n- name: other\n  context: {cluster: other, user: other}\ncurrent-context: other\nextra: kept\n";
        let (doc, name) = merged(Some(existing), NEW, false).expect("merge");
        assert_eq!(name, "local-acme-shop");
        assert_eq!(doc["current-context"], Value::from("other"));
        assert_eq!(doc["extra"], Value::from("kept"));
        let clusters = doc["clusters"].as_sequence().expect("clusters");
        assert_eq!(clusters.len(), 2);
        assert_eq!(clusters[1]["cluster"]["server"], Value::from("https://p:1"));
        assert_eq!(doc["users"][0]["user"]["token"], Value::from("keep"));
        let (doc, _) = merged(Some(existing), NEW, true).expect("merge");
        assert_eq!(doc["current-context"], Value::from("local-acme-shop"));
    }

    #[test]
    fn exec_entries_are_pinned_to_the_context() {
        let kubeconfig = "users:\n- name: u\n  user:\n    exec:\n      command: kubenova\n      args: [credential, --cluster, main, --tenant, acme]\n";
        let pinned = pin_exec(
            kubeconfig,
            "corp",
            Some(std::path::Path::new("/home/me/kn.yaml")),
        )
        .expect("pinned");
        let v: Value = serde_yaml::from_str(&pinned).expect("yaml");
        let exec = &v["users"][0]["user"]["exec"];
        let args: Vec<&str> = exec["args"]
            .as_sequence()
            .expect("args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            args,
            [
                "credential",
                "--context",
                "corp",
                "--cluster",
                "main",
                "--tenant",
                "acme"
            ]
        );
        assert_eq!(exec["env"][0]["name"], Value::from("KUBENOVA_CONFIG"));
        assert_eq!(exec["env"][0]["value"], Value::from("/home/me/kn.yaml"));
        assert!(pin_exec(NEW, "corp", None).is_err(), "a token kubeconfig");
    }

    #[test]
    fn merge_into_nothing() {
        let (doc, _) = merged(None, NEW, true).expect("merge");
        assert_eq!(doc["contexts"].as_sequence().map(Vec::len), Some(1));
        assert_eq!(doc["current-context"], Value::from("local-acme-shop"));
    }
}
