//! An OCI registry (CNCF Distribution's `registry`, built from its pinned module) on loopback
//! over plain HTTP, for tests of charts from OCI registries. It can require a user name and
//! password (htpasswd, bcrypt), as a private registry would. Charts are pushed with the real
//! `helm push`.
//!
//! ```no_run
//! # async fn example() -> testenv::Result<()> {
//! let env = testenv::TestEnv::shared();
//! let registry = env.oci_registry(Some(("pusher", "s3cret"))).await?;
//! registry.push_chart(std::path::Path::new("tests/fixtures/charts/greeter"), "0.1.0")?;
//! println!("helm install x oci://{}/charts/greeter --plain-http", registry.host());
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::env::run;
use crate::pki::write_file;
use crate::upstream::Module;
use crate::{Error, Result, TestEnv, free_port, wait};

/// Where [`OciRegistry::push_chart`] puts charts: `oci://<host>/charts/<name>`.
pub const CHART_PATH: &str = "charts";

/// A running registry; it stops with the environment.
#[derive(Debug)]
pub struct OciRegistry {
    host: String,
    credentials: Option<(String, String)>,
    work: PathBuf,
}

impl TestEnv {
    /// Starts an OCI registry as one of the environment's programs, optionally requiring
    /// `(user, password)`.
    pub async fn oci_registry(&self, credentials: Option<(&str, &str)>) -> Result<OciRegistry> {
        let name = crate::unique_name("registry");
        let work = self.dir().join("registries").join(&name);
        let storage = self.dir().join("data").join(&name);
        for dir in [&work, &storage] {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let port = free_port()?;
        let auth = match credentials {
            Some((user, password)) => {
                let hash = bcrypt::hash(password, 4)
                    .map_err(|e| Error::Invalid(format!("bcrypt: {e}")))?;
                let htpasswd = work.join("htpasswd");
                write_file(&htpasswd, &format!("{user}:{hash}\n"))?;
                format!(
                    "auth:\n  htpasswd:\n    realm: kubenova-testenv\n    path: {}\n",
                    htpasswd.display()
                )
            }
            None => String::new(),
        };
        let config = work.join("config.yml");
        write_file(
            &config,
            &format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n{auth}",
                storage.display()
            ),
        )?;
        let mut cmd = Command::new(Module::Distribution.path("registry")?);
        cmd.arg("serve").arg(&config);
        let mut program = self.supervisor().spawn(&name, cmd)?;
        // `/v2/` answers 200, or 401 when credentials are required, once it serves.
        wait::until(
            "the OCI registry to serve /v2/",
            &mut program,
            Duration::from_secs(30),
            || async move {
                let answer = wait::http_status(port, "/v2/")?;
                Ok(answer == 200 || answer == 401)
            },
        )
        .await?;
        self.adopt(program);
        Ok(OciRegistry {
            host: format!("127.0.0.1:{port}"),
            credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
            work,
        })
    }
}

impl OciRegistry {
    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The URL a Flux `OCIRepository` or KubeNova's `helm` component takes for the charts
    /// pushed here: `oci://<host>/charts`.
    pub fn charts_url(&self) -> String {
        format!("oci://{}/{CHART_PATH}", self.host)
    }

    /// A `kubernetes.io/dockerconfigjson` Secret for this registry (what Flux's
    /// `OCIRepository.spec.secretRef` takes), as JSON.
    pub fn pull_secret(&self, namespace: &str, name: &str, user: &str, password: &str) -> String {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let config = serde_json::json!({
            "auths": { &self.host: { "username": user, "password": password, "auth": auth } }
        });
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": name, "namespace": namespace },
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": { ".dockerconfigjson": config.to_string() },
        })
        .to_string()
    }

    /// Packages the chart in `chart_dir` as `version` and pushes it to `oci://<host>/charts`
    /// with the real `helm`, using the registry's credentials. Returns helm's output.
    pub fn push_chart(&self, chart_dir: &Path, version: &str) -> Result<String> {
        let packages = self.work.join("packages");
        let out = self.helm(&[
            "package",
            &chart_dir.display().to_string(),
            "--version",
            version,
            "--destination",
            &packages.display().to_string(),
        ])?;
        let package = out
            .lines()
            .find_map(|l| {
                l.split_once("saved it to: ")
                    .map(|(_, p)| p.trim().to_owned())
            })
            .ok_or_else(|| Error::Invalid(format!("helm package said: {out}")))?;
        let url = self.charts_url();
        let mut args = vec!["push", package.as_str(), url.as_str(), "--plain-http"];
        if let Some((user, password)) = &self.credentials {
            args.extend(["--username", user, "--password", password]);
        }
        self.helm(&args)
    }

    fn helm(&self, args: &[&str]) -> Result<String> {
        let home = self.work.join("helm");
        let mut helm = Command::new(Module::Helm.path("helm")?);
        helm.env("HELM_CONFIG_HOME", &home)
            .env("HELM_CACHE_HOME", &home)
            .env("HELM_DATA_HOME", &home)
            .env("HELM_REGISTRY_CONFIG", home.join("registry.json"));
        run(helm, args, None)
    }
}
