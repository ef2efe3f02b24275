//! Where the upstream programs built by `make upstream` (hack/upstream/build.sh) live.
//!
//! The pinned version of each program is read from its wrapper module's `go.mod`, compiled into
//! this crate, so the build script and testenv cannot disagree about it.

use std::path::PathBuf;

use crate::{Error, Result};

/// One wrapper module under `hack/upstream/<name>/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    /// kube-apiserver, kube-controller-manager, kube-scheduler and kubectl.
    Kubernetes,
    /// etcd.
    Etcd,
    /// kwok (fake nodes).
    Kwok,
    /// The Capsule controller, plus its CRDs in `crds/` and its Helm chart in `chart/`.
    Capsule,
    /// helm.
    Helm,
    /// KubeVela's controller (`vela-core`), plus its CRDs in `crds/` and its built-in
    /// definitions (Helm templates) in `definitions/`.
    KubeVela,
    /// FluxCD's `source-controller` and `helm-controller`, plus their CRDs in `crds/`. The
    /// version is helm-controller's.
    FluxCd,
    /// CNCF Distribution's OCI registry (`registry`).
    Distribution,
    /// capsule-proxy, plus its CRDs in `crds/` and its Helm chart in `chart/`. Built from a
    /// source tree beside the repository, not through the Go module proxy (see
    /// `hack/upstream/capsule-proxy/source`).
    CapsuleProxy,
    /// k9s, the terminal UI tests drive in tmux (`proxy/tests/through_proxy/k9s.rs`).
    K9s,
    /// Dex, the OpenID Connect provider people sign in through, plus its login pages in `web/`.
    /// Built from a source tree beside the repository (see `hack/upstream/dex/source`).
    Dex,
}

impl Module {
    /// The wrapper module's directory name.
    pub fn name(self) -> &'static str {
        match self {
            Module::Kubernetes => "kubernetes",
            Module::Etcd => "etcd",
            Module::Kwok => "kwok",
            Module::Capsule => "capsule",
            Module::Helm => "helm",
            Module::KubeVela => "kubevela",
            Module::FluxCd => "fluxcd",
            Module::Distribution => "distribution",
            Module::CapsuleProxy => "capsule-proxy",
            Module::K9s => "k9s",
            Module::Dex => "dex",
        }
    }

    fn go_mod(self) -> &'static str {
        match self {
            Module::Kubernetes => include_str!("../../hack/upstream/kubernetes/go.mod"),
            Module::Etcd => include_str!("../../hack/upstream/etcd/go.mod"),
            Module::Kwok => include_str!("../../hack/upstream/kwok/go.mod"),
            Module::Capsule => include_str!("../../hack/upstream/capsule/go.mod"),
            Module::Helm => include_str!("../../hack/upstream/helm/go.mod"),
            Module::KubeVela => include_str!("../../hack/upstream/kubevela/go.mod"),
            Module::FluxCd => include_str!("../../hack/upstream/fluxcd/go.mod"),
            Module::Distribution => include_str!("../../hack/upstream/distribution/go.mod"),
            Module::CapsuleProxy => include_str!("../../hack/upstream/capsule-proxy/go.mod"),
            Module::K9s => include_str!("../../hack/upstream/k9s/go.mod"),
            Module::Dex => include_str!("../../hack/upstream/dex/go.mod"),
        }
    }

    /// The pinned upstream version: the `require` of the module providing the wrapper's first
    /// tool or, for a module built from a source tree, the `version` of its `source` file.
    pub fn version(self) -> &'static str {
        match self {
            Module::CapsuleProxy => {
                source_version(include_str!("../../hack/upstream/capsule-proxy/source"))
            }
            Module::Dex => source_version(include_str!("../../hack/upstream/dex/source")),
            _ => pinned_version(self.go_mod()),
        }
        .unwrap_or("unknown")
    }

    /// `${KUBENOVA_CACHE:-~/.cache/kubenova}/bin/<name>-<version>`.
    pub fn dir(self) -> PathBuf {
        cache_dir()
            .join("bin")
            .join(format!("{}-{}", self.name(), self.version()))
    }

    /// The path of one program (or asset) of this module, checked to exist.
    pub fn path(self, file: &str) -> Result<PathBuf> {
        let path = self.dir().join(file);
        if path.exists() {
            Ok(path)
        } else {
            Err(Error::MissingUpstream {
                module: self.name(),
                version: self.version(),
                path,
            })
        }
    }
}

/// The build cache: `$KUBENOVA_CACHE`, else `~/.cache/kubenova`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KUBENOVA_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache").join("kubenova")
}

/// The `version <v>` line of a source module's `source` file.
fn source_version(source: &str) -> Option<&str> {
    source.lines().find_map(
        |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["version", version] => Some(version),
            _ => None,
        },
    )
}

/// The version of the module that provides the wrapper's programs: the `require` whose module
/// path is the longest prefix of the first `tool` package path.
fn pinned_version(go_mod: &str) -> Option<&str> {
    let mut tool = None;
    let mut in_tool_block = false;
    let mut requires = Vec::new();
    for line in go_mod.lines() {
        let line = line.split("//").next().unwrap_or_default().trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["tool", "("] => in_tool_block = true,
            [")"] => in_tool_block = false,
            ["tool", path] => tool = tool.or(Some(*path)),
            [path] if in_tool_block => tool = tool.or(Some(*path)),
            ["require", path, version] | [path, version] if version.starts_with('v') => {
                requires.push((*path, *version));
            }
            _ => {}
        }
    }
    let tool = tool?;
    requires
        .into_iter()
        .filter(|(path, _)| tool == *path || tool.starts_with(&format!("{path}/")))
        .max_by_key(|(path, _)| path.len())
        .map(|(_, version)| version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_pins_a_version() {
        for m in [
            Module::Kubernetes,
            Module::Etcd,
            Module::Kwok,
            Module::Capsule,
            Module::Helm,
            Module::KubeVela,
            Module::FluxCd,
            Module::Distribution,
            Module::CapsuleProxy,
            Module::K9s,
            Module::Dex,
        ] {
            assert!(
                m.version().starts_with('v'),
                "{} has no pinned version",
                m.name()
            );
        }
    }

    #[test]
    fn kubernetes_is_1_36() {
        assert!(Module::Kubernetes.version().starts_with("v1.36."));
    }

    #[test]
    fn capsule_proxy_matches_capsule() {
        assert_eq!(Module::CapsuleProxy.version(), Module::Capsule.version());
        // The source module builds against the Capsule testenv runs.
        assert!(Module::CapsuleProxy.go_mod().lines().any(|l| l.trim()
            == format!(
                "github.com/projectcapsule/capsule {}",
                Module::Capsule.version()
            )),);
    }

    #[test]
    fn kubevela_is_1_10_and_flux_is_helm_controller_1_4() {
        assert!(Module::KubeVela.version().starts_with("v1.10."));
        assert!(Module::FluxCd.version().starts_with("v1.4."));
    }

    #[test]
    fn the_version_is_that_of_the_module_providing_the_first_tool() {
        let go_mod = "module x\n\ntool (\n\tk8s.io/kubernetes/cmd/kubectl\n)\n\nrequire (\n\
                      \tk8s.io/kube-aggregator v0.36.3 // indirect\n\tk8s.io/kubernetes v1.36.3 // indirect\n)\n\
                      replace k8s.io/api => k8s.io/api v0.36.3\n";
        assert_eq!(pinned_version(go_mod), Some("v1.36.3"));
        let single =
            "module y\ntool go.etcd.io/etcd/server/v3\nrequire go.etcd.io/etcd/server/v3 v3.6.8\n";
        assert_eq!(pinned_version(single), Some("v3.6.8"));
        assert_eq!(pinned_version("module z\nrequire a v1\n"), None);
    }
}
