//! The environment as a whole: start order, readiness, clients, `kubectl`, shutdown.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::kubeconfig::{self, Credential};
use crate::pki::Pki;
use crate::process::{Program, Supervisor};
use crate::upstream::Module;
use crate::{Error, Result, apiserver, capsule, capsule_proxy, controllers, dex, etcd, kwok, vela};

/// What to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// Directory for logs, certificates and data; default `target/testenv/<label>-<pid>-<n>`.
    pub dir: Option<PathBuf>,
    /// Names the default directory.
    pub label: String,
    /// Start Capsule (its CRDs, configuration, webhooks and controller).
    pub capsule: bool,
    /// Start KubeVela (vela-core with its CRDs and built-in definitions, KubeNova's `helm`
    /// component) and the FluxCD source-controller and helm-controller it delivers charts with.
    pub vela: bool,
    /// Start capsule-proxy (its CRDs, the RBAC its chart grants, TLS from the environment's CA)
    /// in front of the apiserver, for `kubenova-proxy --mode=capsule-proxy`. Needs `capsule`.
    pub capsule_proxy: bool,
    /// Write kube-apiserver's audit log (every request at `Metadata` level) to
    /// `logs/audit.log`, for tests that count requests (see [`TestEnv::audit_log`]).
    pub audit: bool,
    /// Start Dex, an OpenID Connect provider with static users and groups ([`crate::dex`]).
    pub dex: Option<dex::DexOptions>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dir: None,
            label: "env".into(),
            capsule: true,
            vela: false,
            capsule_proxy: false,
            audit: false,
            dex: None,
        }
    }
}

/// A running environment. Dropping it does not stop it; [`TestEnv::shutdown`] does, and so does
/// the end of the process that started it.
#[derive(Debug)]
pub struct TestEnv {
    dir: PathBuf,
    server: String,
    ca_pem: String,
    admin_kubeconfig: PathBuf,
    kubectl: PathBuf,
    supervisor: Supervisor,
    pki: Pki,
    programs: Mutex<Vec<Program>>,
    /// Held while this environment's Capsule runs (see [`capsule::MachineLock`]).
    capsule_lock: Mutex<Option<capsule::MachineLock>>,
    /// Where kwok serves the fake node's kubelet API.
    pub kwok: kwok::Kwok,
    /// Where KubeVela and Flux listen, when started ([`Options::vela`]).
    pub vela: Option<vela::Vela>,
    /// Where capsule-proxy listens, when started ([`Options::capsule_proxy`]).
    pub capsule_proxy: Option<capsule_proxy::CapsuleProxy>,
    /// Where Dex serves, when started ([`Options::dex`]).
    pub dex: Option<dex::Dex>,
}

static SHARED: OnceLock<std::result::Result<TestEnv, String>> = OnceLock::new();

impl TestEnv {
    /// The environment shared by every test of this test binary, started on first use.
    ///
    /// It is started on a thread of its own, so it does not depend on any test's runtime.
    /// Panics with the startup error (which names the failing program's log) if it cannot start.
    pub fn shared() -> &'static TestEnv {
        Self::shared_with(Options::default())
    }

    /// Like [`TestEnv::shared`], started with `options` (its `label` and `dir` are ignored: the
    /// directory is named after the test binary). The first call in a test binary decides.
    pub fn shared_with(options: Options) -> &'static TestEnv {
        let env = SHARED.get_or_init(move || {
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                runtime
                    .block_on(TestEnv::start(Options {
                        label: test_binary_label(),
                        dir: None,
                        ..options
                    }))
                    .map_err(|e| e.to_string())
            })
            .join()
            .unwrap_or_else(|_| Err("the testenv startup thread panicked".into()))
        });
        match env {
            Ok(env) => env,
            Err(e) => panic!("testenv could not start: {e}"),
        }
    }

    /// Starts every program and waits until the environment is usable.
    pub async fn start(options: Options) -> Result<TestEnv> {
        install_crypto_provider();
        if options.capsule_proxy && !options.capsule {
            return Err(Error::Invalid(
                "capsule-proxy needs Capsule (its CRDs and CapsuleConfiguration): set \
                 Options::capsule too"
                    .into(),
            ));
        }
        let dir = match options.dir {
            Some(dir) => dir,
            None => default_dir(&options.label)?,
        };
        let (logs, data, pki_dir) = (dir.join("logs"), dir.join("data"), dir.join("pki"));
        for d in [&logs, &data, &pki_dir] {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        // The run directory holds the admin kubeconfig and every key: root's alone. (kwok's
        // exec runs as another user; see `kwok`.)
        std::fs::set_permissions(
            &dir,
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700),
        )
        .map_err(|e| Error::io(&dir, e))?;
        let kubectl = Module::Kubernetes.path("kubectl")?;
        let pki = Pki::new(&pki_dir)?;
        let supervisor = Supervisor::new(&logs, &data)?;
        let mut programs = Vec::new();

        let etcd = etcd::start(&supervisor, &pki, &data).await?;
        programs.push(etcd.program);

        let admin = pki.client("admin", "kubenova-testenv-admin", &["system:masters"])?;
        let admin_kubeconfig = dir.join("admin.kubeconfig");
        let ca_pem = pki.ca().cert_pem.clone();
        let config_path = admin_kubeconfig.clone();
        let server = {
            let port_probe = |url: String| {
                let path = config_path.clone();
                let (cert, key, ca) = (
                    admin.cert_pem.clone(),
                    admin.key_pem.clone(),
                    ca_pem.clone(),
                );
                async move {
                    kubeconfig::write(
                        &path,
                        "testenv",
                        &url,
                        &ca,
                        Credential::ClientCert {
                            cert_pem: &cert,
                            key_pem: &key,
                        },
                    )
                    .map_err(|e| e.to_string())?;
                    readyz(&path).await
                }
            };
            let audit = options.audit.then(|| logs.join("audit.log"));
            let api = apiserver::start(
                &supervisor,
                &pki,
                &pki_dir,
                &etcd.client,
                audit.as_deref(),
                port_probe,
            )
            .await?;
            programs.push(api.program);
            api.url
        };

        programs.push(controllers::start_controller_manager(
            &supervisor,
            &pki,
            &pki_dir,
            &server,
        )?);
        programs.push(controllers::start_scheduler(
            &supervisor,
            &pki,
            &pki_dir,
            &server,
        )?);

        let mut env = TestEnv {
            dir,
            server,
            ca_pem,
            admin_kubeconfig,
            kubectl,
            supervisor,
            pki,
            programs: Mutex::new(Vec::new()),
            capsule_lock: Mutex::new(None),
            kwok: kwok::Kwok::default(),
            vela: None,
            capsule_proxy: None,
            dex: None,
        };
        let client = env.client().await?;
        let (kwok, kwok_program) = kwok::start(&env, &env.pki, &pki_dir, &client).await?;
        env.kwok = kwok;
        programs.push(kwok_program);
        *env.programs.lock().unwrap_or_else(|p| p.into_inner()) = programs;
        env.wait_for_controllers(&client).await?;
        if options.capsule {
            let lock = capsule::MachineLock::acquire()?;
            let program = capsule::start(&env, &env.pki, &pki_dir, &client).await?;
            env.lock_programs().push(program);
            *env.capsule_lock.lock().unwrap_or_else(|p| p.into_inner()) = Some(lock);
        }
        if options.capsule_proxy {
            // Under Capsule's machine lock, which also covers capsule-proxy's fixed ports.
            let (running, program) =
                capsule_proxy::start(&env, &env.pki, &pki_dir, &client).await?;
            env.lock_programs().push(program);
            env.capsule_proxy = Some(running);
        }
        if options.vela {
            let (running, started) = vela::start(&env, &env.pki, &pki_dir).await?;
            env.lock_programs().extend(started);
            env.vela = Some(running);
        }
        if let Some(dex_options) = &options.dex {
            let (running, program) = dex::start(&env, &env.pki, &pki_dir, dex_options).await?;
            env.lock_programs().push(program);
            env.dex = Some(running);
        }
        Ok(env)
    }

    fn lock_programs(&self) -> std::sync::MutexGuard<'_, Vec<Program>> {
        self.programs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// kube-controller-manager is working once it has created the `default` ServiceAccount.
    async fn wait_for_controllers(&self, client: &Client) -> Result<()> {
        use k8s_openapi::api::core::v1::ServiceAccount;
        let api: kube::Api<ServiceAccount> = kube::Api::namespaced(client.clone(), "default");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if api.get_opt("default").await?.is_some() {
                return Ok(());
            }
            self.check_programs()?;
            if std::time::Instant::now() > deadline {
                let log = self.log("kube-controller-manager");
                return Err(Error::NotReady {
                    what: "kube-controller-manager (default ServiceAccount)".into(),
                    after: Duration::from_secs(60),
                    last: "no ServiceAccount default/default".into(),
                    tail: crate::process::tail(&log, 30),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Fails with the log of the first program that has exited.
    pub fn check_programs(&self) -> Result<()> {
        for p in self.lock_programs().iter_mut() {
            p.check_running()?;
        }
        Ok(())
    }

    /// Applies every CRD manifest in `dirs` (server-side, field manager `testenv`) and waits
    /// until all CRDs of the cluster are established.
    pub fn install_crds(&self, dirs: &[PathBuf]) -> Result<()> {
        for dir in dirs {
            self.kubectl_run(
                &[
                    "apply",
                    "--server-side",
                    "--field-manager=testenv",
                    "-f",
                    &dir.display().to_string(),
                ],
                None,
            )?;
        }
        self.kubectl_run(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd",
                "--all",
            ],
            None,
        )?;
        Ok(())
    }

    /// Creates (or keeps) the namespace `name`.
    pub fn create_namespace(&self, name: &str) -> Result<()> {
        self.apply(&format!(
            r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{name}"}}}}"#
        ))
        .map(drop)
    }

    /// The apiserver URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The environment's CA certificate (PEM): it signed every serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate file.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("pki").join("ca.crt")
    }

    /// The admin kubeconfig (client certificate in `system:masters`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// The environment's directory (logs in `logs/`, certificates in `pki/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log file of one program, by short name (`etcd`, `kube-apiserver`, `kwok`, ...).
    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }

    /// `(name, pid)` of every running program.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.lock_programs()
            .iter()
            .map(|p| (p.name.clone(), p.pid()))
            .collect()
    }

    /// The process group the programs run in.
    pub fn process_group(&self) -> Option<i32> {
        self.supervisor.process_group()
    }

    /// The environment's CA, to issue more certificates (a proxy's serving certificate, say).
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// Starts `command` as one of the environment's programs (stopped with it), logging to
    /// `logs/<name>.log`.
    pub fn spawn(&self, name: &str, command: Command) -> Result<()> {
        let program = self.supervisor.spawn(name, command)?;
        self.lock_programs().push(program);
        Ok(())
    }

    /// Kills the program `name` started with [`TestEnv::spawn`] (or a helper that uses it);
    /// false if there is none.
    pub fn stop(&self, name: &str) -> bool {
        let program = {
            let mut programs = self.lock_programs();
            let Some(at) = programs.iter().position(|p| p.name == name) else {
                return false;
            };
            programs.remove(at)
        };
        program.kill();
        true
    }

    /// Adds a program started with [`TestEnv::supervisor`] to the ones checked and listed.
    pub(crate) fn adopt(&self, program: Program) {
        self.lock_programs().push(program);
    }

    pub(crate) fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// An admin client.
    pub async fn client(&self) -> Result<Client> {
        client_from(&self.admin_kubeconfig, None).await
    }

    /// A client with its own client certificate for `user` in `groups` (say a controller with
    /// an identity of its own, in `system:masters`), its kubeconfig in `pki/<file_name>.kubeconfig`.
    pub async fn client_as(&self, file_name: &str, user: &str, groups: &[&str]) -> Result<Client> {
        let cert = self.pki.client(file_name, user, groups)?;
        let path = self.dir.join("pki").join(format!("{file_name}.kubeconfig"));
        self.write_kubeconfig(
            &path,
            Credential::ClientCert {
                cert_pem: &cert.cert_pem,
                key_pem: &cert.key_pem,
            },
        )?;
        client_from(&path, None).await
    }

    /// The apiserver's audit log (JSON lines), written when started with [`Options::audit`].
    pub fn audit_log(&self) -> PathBuf {
        self.log("audit")
    }

    /// A client that authenticates as admin and impersonates `user` with `groups`, as
    /// KubeNova's proxy does.
    pub async fn impersonating(&self, user: &str, groups: &[&str]) -> Result<Client> {
        client_from(&self.admin_kubeconfig, Some((user, groups))).await
    }

    /// Writes a kubeconfig for this apiserver with the given credential.
    pub fn write_kubeconfig(&self, path: &Path, credential: Credential<'_>) -> Result<()> {
        kubeconfig::write(path, "testenv", &self.server, &self.ca_pem, credential)
    }

    /// The real `kubectl`, pointed at this environment as admin.
    pub fn kubectl(&self) -> Command {
        self.kubectl_with(&self.admin_kubeconfig)
    }

    /// The real `kubectl` with another kubeconfig.
    pub fn kubectl_with(&self, kubeconfig: &Path) -> Command {
        let mut cmd = Command::new(&self.kubectl);
        cmd.arg(format!("--kubeconfig={}", kubeconfig.display()));
        cmd
    }

    /// The path of the `kubectl` binary.
    pub fn kubectl_path(&self) -> &Path {
        &self.kubectl
    }

    /// Runs `kubectl` as admin with `args`, feeding `stdin`; returns stdout or the error.
    pub fn kubectl_run(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        run(self.kubectl(), args, stdin)
    }

    /// Server-side applies YAML or JSON manifests as admin.
    pub fn apply(&self, manifests: &str) -> Result<String> {
        self.kubectl_run(
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=testenv",
                "-f",
                "-",
            ],
            Some(manifests),
        )
    }

    /// Stops every program (SIGTERM, SIGKILL after `grace`) and removes the data directory.
    pub fn shutdown(&self, grace: Duration) {
        self.supervisor.shutdown(grace);
        self.capsule_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

/// Runs a command with extra arguments and optional stdin, returning stdout or its stderr.
pub fn run(mut cmd: Command, args: &[&str], stdin: Option<&str>) -> Result<String> {
    use std::io::Write;
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = Path::new(cmd.get_program())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut child = cmd.spawn().map_err(|e| Error::Spawn {
        program: program.clone(),
        source: e,
    })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|e| Error::io(Path::new("stdin"), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io(Path::new(&program), e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command {
            program,
            args: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// kube's TLS goes through rustls, which needs one process-wide crypto provider.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub(crate) async fn client_from(
    path: &Path,
    impersonate: Option<(&str, &[&str])>,
) -> Result<Client> {
    install_crypto_provider();
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig(e.to_string()))?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| Error::Kubeconfig(e.to_string()))?;
    if let Some((user, groups)) = impersonate {
        config.auth_info.impersonate = Some(user.to_owned());
        config.auth_info.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
    }
    Ok(Client::try_from(config)?)
}

async fn readyz(kubeconfig: &Path) -> std::result::Result<bool, String> {
    let client = client_from(kubeconfig, None)
        .await
        .map_err(|e| e.to_string())?;
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    match client.request_text(request).await {
        Ok(body) => Ok(body.trim() == "ok"),
        Err(e) => Err(e.to_string()),
    }
}

/// A name no other test in this process (or a recent one) has used: `<prefix>-<pid>-<n>`,
/// lowercase so it is a valid Kubernetes name.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id() % 100_000)
}

fn test_binary_label() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| s.split('-').next().unwrap_or("tests").to_owned())
        .unwrap_or_else(|| "tests".into())
}

/// `<workspace>/target/testenv/<label>-<pid>-<seconds>`; keeps the ten newest runs' logs.
fn default_dir(label: &str) -> Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    let root = workspace.join("target").join("testenv");
    std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
    prune_old_runs(&root, 10);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    Ok(root.join(format!("{label}-{}-{secs}", std::process::id())))
}

fn prune_old_runs(root: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut runs: Vec<(SystemTime, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    runs.sort();
    let excess = runs.len().saturating_sub(keep);
    for (_, path) in runs.into_iter().take(excess) {
        // Best effort: a run directory still in use by another process is only logs.
        let _ = std::fs::remove_dir_all(path);
    }
}
