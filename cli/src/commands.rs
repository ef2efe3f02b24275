//! What each command does: parse flags into request bodies, call the generated client, print.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::api::{self, Client, Error, Tls};
use crate::args::{
    Cli, ClusterCmd, Command, ContextCmd, FileArg, Global, KubeconfigCmd, ProjectCmd, ServerCmd,
    TenantCmd, TenantScope, TokenCmd,
};
use crate::config::{self, Config, Context};
use crate::output::{Format, Kind, Printer};

/// A command's surroundings: the flags, the config and the client.
pub(crate) struct Env {
    pub(crate) global: Global,
    pub(crate) printer: Printer,
    pub(crate) client: Client,
    /// The context's default cluster.
    pub(crate) cluster: Option<String>,
    /// The context's name (none with `--server` and `--token` alone).
    pub(crate) context_name: Option<String>,
    /// Names the session (server and token) in the credential cache.
    pub(crate) session: String,
    me: Option<Value>,
}

/// Reads a JSON or YAML file (`-`: standard input) as JSON.
pub(crate) fn read_body(path: &Path) -> Result<Value, Error> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Error::Usage(format!("reading standard input: {e}")))?;
        s
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("reading {}: {e}", path.display())))?
    };
    serde_yaml::from_str::<Value>(&text)
        .map_err(|e| Error::Usage(format!("{} is not JSON or YAML: {e}", path.display())))
}

/// The body from `-f`, or the one built from flags; `-f` and flags together are refused.
pub(crate) fn body_or(file: &FileArg, from_flags: Option<Value>) -> Result<Value, Error> {
    match (&file.file, from_flags) {
        (Some(_), Some(_)) => Err(Error::Usage(
            "give the body either with -f or with flags, not both".into(),
        )),
        (Some(path), None) => read_body(path),
        (None, Some(v)) => Ok(v),
        (None, None) => Err(Error::Usage(
            "this command needs -f FILE (or its flags)".into(),
        )),
    }
}

fn tls(global: &Global, context: Option<&Context>) -> Result<Tls, Error> {
    let ca_pem = match &global.certificate_authority {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            Error::Usage(format!(
                "reading --certificate-authority {}: {e}",
                path.display()
            ))
        })?),
        None => context.and_then(|c| c.certificate_authority_data.clone()),
    };
    Ok(Tls {
        ca_pem,
        insecure: global.insecure_skip_tls_verify
            || context.is_some_and(|c| c.insecure_skip_tls_verify),
    })
}

impl Env {
    fn new(global: Global) -> Result<Env, Error> {
        let printer = Printer {
            format: global.output,
            no_headers: global.no_headers,
        };
        let (client, cluster, context_name, server, token) = match (&global.server, &global.token) {
            (Some(server), Some(token)) if global.context.is_none() => (
                Client::new(server, Some(token.clone()), &tls(&global, None)?)?,
                None,
                None,
                server.clone(),
                token.clone(),
            ),
            _ => {
                let path = config::path()?;
                let config = Config::load(&path)?;
                let context = config.context(global.context.as_deref())?;
                let server = global
                    .server
                    .clone()
                    .unwrap_or_else(|| context.server.clone());
                let token = global
                    .token
                    .clone()
                    .unwrap_or_else(|| context.token.clone());
                (
                    Client::new(&server, Some(token.clone()), &tls(&global, Some(context))?)?,
                    context.cluster.clone(),
                    Some(context.name.clone()),
                    server,
                    token,
                )
            }
        };
        Ok(Env {
            global,
            printer,
            client,
            cluster,
            context_name,
            session: crate::credential::session_prefix(server.trim_end_matches('/'), &token),
            me: None,
        })
    }

    /// `GET /api/v1/me`, once.
    pub(crate) async fn me(&mut self) -> Result<&Value, Error> {
        if self.me.is_none() {
            self.me = Some(api::json(self.client.tokens_me().await?).await?);
        }
        Ok(self.me.as_ref().unwrap_or(&Value::Null))
    }

    /// The tenant: the flag, else the token's.
    pub(crate) async fn tenant(&mut self, flag: &Option<String>) -> Result<String, Error> {
        if let Some(t) = flag {
            return Ok(t.clone());
        }
        self.me()
            .await?
            .get("tenant")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::Usage("which tenant? pass --tenant (-t)".into()))
    }

    /// The project: the flag, else the token's.
    pub(crate) async fn project(&mut self, flag: &Option<String>) -> Result<String, Error> {
        if let Some(p) = flag {
            return Ok(p.clone());
        }
        self.me()
            .await?
            .get("project")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::Usage("which project? pass --project (-p)".into()))
    }

    /// The cluster of `tenant`: `--cluster`, else the context's, else the tenant's own (read
    /// with `GET /api/v1/tenants/{t}`).
    pub(crate) async fn cluster_of(&mut self, tenant: &str) -> Result<String, Error> {
        if let Some(c) = self.global.cluster.clone().or_else(|| self.cluster.clone()) {
            return Ok(c);
        }
        match self.client.tenants_get_by_name(tenant).await {
            Ok(r) => api::json(r)
                .await?
                .get("cluster")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Error::Other(format!("tenant {tenant} names no cluster"))),
            Err(Error::Api { status: 403, .. }) => Err(Error::Usage(format!(
                "your token may not read tenant {tenant}, so its cluster is unknown: pass --cluster (or `kubenova context set-cluster NAME`)"
            ))),
            Err(e) => Err(e),
        }
    }

    /// The cluster a command names (`tenant create`, `tenant list --cluster`).
    fn cluster_flag(&self) -> Option<String> {
        self.global.cluster.clone()
    }

    pub(crate) fn print(&self, kind: Kind, value: &Value) -> Result<(), Error> {
        self.printer.print(kind, value)
    }

    /// Prints what a change answered: `kind/name verb` in table format, else the object.
    pub(crate) fn done(&self, kind: Kind, value: &Value, verb: &str) -> Result<(), Error> {
        match self.printer.format {
            Format::Table | Format::Wide => {
                let name = value
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                println!("{}/{name} {verb}", kind_name(kind));
                Ok(())
            }
            _ => self.print(kind, value),
        }
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Cluster => "cluster",
        Kind::Tenant => "tenant",
        Kind::Project => "project",
        Kind::App => "app",
        Kind::Token => "token",
        _ => "object",
    }
}

/// Runs the command line.
pub(crate) async fn run(cli: Cli) -> Result<(), Error> {
    let global = cli.global;
    match cli.command {
        Command::Login(login) => self::login(&global, login).await,
        Command::Context(cmd) => context(&global, cmd),
        Command::Completion { shell } => {
            crate::reference::completion(shell);
            Ok(())
        }
        Command::Man { dir } => crate::reference::man(&dir),
        Command::Reference => {
            print!("{}", crate::reference::markdown());
            Ok(())
        }
        Command::Version => {
            println!("client: {}", env!("CARGO_PKG_VERSION"));
            let env = Env::new(global)?;
            let v = api::json(env.client.meta_version().await?).await?;
            println!(
                "server: {}",
                v.get("version").and_then(Value::as_str).unwrap_or("?")
            );
            Ok(())
        }
        command => {
            let mut env = Env::new(global)?;
            dispatch(&mut env, command).await
        }
    }
}

async fn dispatch(env: &mut Env, command: Command) -> Result<(), Error> {
    let c = env.client.clone();
    match command {
        Command::Whoami => {
            let me = env.me().await?.clone();
            env.print(Kind::Me, &me)
        }
        Command::Health { ready } => {
            let r = if ready {
                c.meta_readyz().await?
            } else {
                c.meta_healthz().await?
            };
            println!("{}", api::text(r).await?.trim_end());
            Ok(())
        }
        Command::Server(cmd) => {
            match cmd {
                ServerCmd::Openapi => {
                    let v = api::json(c.meta_openapi().await?).await?;
                    match env.printer.format {
                        Format::Yaml => print!("{}", crate::output::yaml(&v)?),
                        _ => println!("{}", pretty(&v)),
                    }
                }
                ServerCmd::Jwks => {
                    let v = api::json(c.meta_jwks().await?).await?;
                    println!("{}", pretty(&v));
                }
                ServerCmd::Metrics => print!("{}", api::text(c.meta_metrics().await?).await?),
            }
            Ok(())
        }
        Command::Cluster(cmd) => cluster(env, cmd).await,
        Command::Tenant(cmd) => tenant(env, cmd).await,
        Command::Project(cmd) => project(env, cmd).await,
        Command::App(cmd) => crate::apps::run(env, cmd).await,
        Command::Token(cmd) => token(env, cmd).await,
        Command::Kubeconfig(cmd) => kubeconfig(env, cmd).await,
        Command::Audit(a) => {
            let query = crate::api::AuditListQuery {
                actor: a.actor,
                limit: a.limit,
                outcome: a.outcome,
                since: a.since,
                tenant: a.tenant,
            };
            env.print(Kind::Other, &api::json(c.audit_list(&query).await?).await?)
        }
        Command::Credential(args) => crate::credential::run(env, args).await,
        Command::Logout => logout(env).await,
        Command::Login(_)
        | Command::Context(_)
        | Command::Completion { .. }
        | Command::Man { .. }
        | Command::Reference
        | Command::Version => Err(Error::Other("handled before".into())),
    }
}

pub(crate) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

async fn login(global: &Global, login: crate::args::Login) -> Result<(), Error> {
    let server = global.server.clone().ok_or_else(|| {
        Error::Usage(
            "login needs --server URL (the KubeNova API, e.g. https://kubenova.example.com)".into(),
        )
    })?;
    if login.list_providers {
        let client = Client::new(&server, None, &tls(global, None)?)?;
        let answer = api::json(client.login_providers().await?).await?;
        let providers = answer
            .get("providers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if providers.is_empty() {
            println!("{server} trusts no identity provider; log in with an API token");
        }
        for p in providers {
            println!(
                "{}\t{}\tclient {}",
                p.get("name").and_then(Value::as_str).unwrap_or("?"),
                p.get("issuerUrl").and_then(Value::as_str).unwrap_or("?"),
                p.get("clientId").and_then(Value::as_str).unwrap_or("?"),
            );
        }
        return Ok(());
    }
    let token = if let Some(t) = &global.token {
        t.clone()
    } else if login.id_token_stdin || login.oidc || login.device {
        let client = Client::new(&server, None, &tls(global, None)?)?;
        let id_token = if login.id_token_stdin {
            let mut id_token = String::new();
            std::io::stdin()
                .read_to_string(&mut id_token)
                .map_err(|e| {
                    Error::Usage(format!("reading the ID token from standard input: {e}"))
                })?;
            id_token.trim().to_owned()
        } else {
            let provider_ca = match &login.provider_ca {
                Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                    Error::Usage(format!("reading --provider-ca {}: {e}", path.display()))
                })?),
                None => None,
            };
            crate::oidc::id_token(crate::oidc::SignIn {
                server: &client,
                provider: login.provider.as_deref(),
                provider_ca,
                device: login.device,
                no_browser: login.no_browser,
                timeout: login.timeout,
            })
            .await?
        };
        if id_token.is_empty() {
            return Err(Error::Usage("the ID token is empty".into()));
        }
        let mut body = serde_json::json!({ "idToken": id_token });
        if let Some(t) = &login.tenant {
            body["tenant"] = Value::String(t.clone());
        }
        if let Some(p) = &login.project {
            body["project"] = Value::String(p.clone());
        }
        let answer = api::json(client.login_oidc(&body).await?).await?;
        answer
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Other("the sign-in answered no token".into()))?
            .to_owned()
    } else if login.token_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Error::Usage(format!("reading the token from standard input: {e}")))?;
        s
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("API token for {server}: "))
            .map_err(|e| Error::Usage(format!("reading the token: {e}")))?
    } else {
        return Err(Error::Usage(
            "no token: pass --token, --token-stdin, or run on a terminal to be asked".into(),
        ));
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(Error::Usage("the token is empty".into()));
    }
    let tls = tls(global, None)?;
    let client = Client::new(&server, Some(token.clone()), &tls)?;
    // Verified before anything is written: a refused token leaves the config as it was.
    let me = api::json(client.tokens_me().await?).await?;
    let host = reqwest::Url::parse(&server)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                format!(
                    "{h}{}",
                    u.port().map(|p| format!(":{p}")).unwrap_or_default()
                )
            })
        })
        .unwrap_or_else(|| "kubenova".into());
    let name = login.name.unwrap_or(host);
    let path = config::path()?;
    let mut config = Config::load(&path)?;
    config.upsert(Context {
        name: name.clone(),
        server: server.trim_end_matches('/').to_owned(),
        token,
        certificate_authority_data: tls.ca_pem,
        insecure_skip_tls_verify: tls.insecure,
        cluster: global.cluster.clone(),
    });
    config.current_context = Some(name.clone());
    config.save(&path)?;
    println!(
        "Logged in to {server} as {} ({}); context {name:?} saved in {}",
        me.get("subject").and_then(Value::as_str).unwrap_or("?"),
        me.get("roles")
            .and_then(Value::as_array)
            .map(|r| r
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","))
            .unwrap_or_default(),
        path.display()
    );
    Ok(())
}

/// `logout`: revokes the context's token (everything it issued goes with it), forgets its
/// cached credentials and deletes the context. A token the server no longer accepts (expired or
/// revoked already) is only forgotten.
async fn logout(env: &mut Env) -> Result<(), Error> {
    let name = env.context_name.clone().ok_or_else(|| {
        Error::Usage("logout works on a saved context (`kubenova context list`)".into())
    })?;
    let revoked = match env.me().await {
        Ok(me) => {
            let jti = me
                .get("jti")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::Other("the server did not say the token's id".into()))?
                .to_owned();
            match env.client.tokens_revoke(&jti).await {
                Ok(r) => {
                    api::json(r).await?;
                    Some(Ok(jti))
                }
                // A readOnly token may not revoke (a reader changes nothing): forgotten here,
                // it lives until it expires unless someone above revokes it.
                Err(Error::Api { status: 403, .. }) => Some(Err(jti)),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Api { status: 401, .. }) => None,
        Err(e) => return Err(e),
    };
    let forgotten = crate::credential::forget_session(&env.session);
    let path = config::path()?;
    let mut config = Config::load(&path)?;
    config.contexts.retain(|c| c.name != name);
    if config.current_context.as_deref() == Some(name.as_str()) {
        config.current_context = None;
    }
    config.save(&path)?;
    match revoked {
        Some(Err(jti)) => println!(
            "Logged out of {name:?} on this machine; {forgotten} cached credential(s) deleted. \
             A readOnly token cannot revoke itself: token {jti} works until it expires unless \
             a tenant owner or an admin revokes it (`kubenova token revoke {jti}`)"
        ),
        Some(Ok(jti)) => println!(
            "Logged out of {name:?}: token {jti} and every token it issued are revoked; \
             {forgotten} cached credential(s) deleted"
        ),
        None => println!(
            "Logged out of {name:?}: its token no longer worked; {forgotten} cached credential(s) deleted"
        ),
    }
    Ok(())
}

fn context(global: &Global, cmd: ContextCmd) -> Result<(), Error> {
    let path = config::path()?;
    let mut config = Config::load(&path)?;
    match cmd {
        ContextCmd::List => {
            let rows: Vec<Vec<String>> = config
                .contexts
                .iter()
                .map(|c| {
                    vec![
                        if config.current_context.as_deref() == Some(c.name.as_str()) {
                            "*".into()
                        } else {
                            String::new()
                        },
                        c.name.clone(),
                        c.server.clone(),
                        c.cluster.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            match global.output {
                Format::Json | Format::Yaml => {
                    // Never the tokens.
                    let v: Vec<Value> = config
                        .contexts
                        .iter()
                        .map(|c| {
                            json!({"name": c.name, "server": c.server, "cluster": c.cluster,
                                "current": config.current_context.as_deref() == Some(c.name.as_str())})
                        })
                        .collect();
                    let v = json!({ "items": v });
                    if global.output == Format::Json {
                        println!("{}", pretty(&v));
                    } else {
                        print!("{}", crate::output::yaml(&v)?);
                    }
                }
                Format::Name => {
                    for c in &config.contexts {
                        println!("context/{}", c.name);
                    }
                }
                _ => {
                    if rows.is_empty() {
                        eprintln!("No contexts: log in with `kubenova login --server URL`.");
                    } else {
                        print!(
                            "{}",
                            crate::output::table(
                                (!global.no_headers)
                                    .then_some(&["CURRENT", "NAME", "SERVER", "CLUSTER"][..]),
                                &rows,
                                None
                            )
                        );
                    }
                }
            }
            Ok(())
        }
        ContextCmd::Use { name } => {
            config.context(Some(&name))?;
            config.current_context = Some(name.clone());
            config.save(&path)?;
            println!("Switched to context {name:?}.");
            Ok(())
        }
        ContextCmd::Delete { name } => {
            config.context(Some(&name))?;
            config.contexts.retain(|c| c.name != name);
            if config.current_context.as_deref() == Some(name.as_str()) {
                config.current_context = None;
            }
            config.save(&path)?;
            println!("Deleted context {name:?}.");
            Ok(())
        }
        ContextCmd::Current => {
            println!("{}", config.context(global.context.as_deref())?.name);
            Ok(())
        }
        ContextCmd::SetCluster { cluster } => {
            let name = config.context(global.context.as_deref())?.name.clone();
            if let Some(c) = config.contexts.iter_mut().find(|c| c.name == name) {
                c.cluster = Some(cluster.clone());
            }
            config.save(&path)?;
            println!("Context {name:?} uses cluster {cluster:?}.");
            Ok(())
        }
    }
}

async fn cluster(env: &mut Env, cmd: ClusterCmd) -> Result<(), Error> {
    let c = env.client.clone();
    match cmd {
        ClusterCmd::List => env.print(Kind::Cluster, &api::json(c.clusters_list().await?).await?),
        ClusterCmd::Get { name } => env.print(
            Kind::Cluster,
            &api::json(c.clusters_get(&name).await?).await?,
        ),
        ClusterCmd::Create { file } => {
            let body = body_or(&file, None)?;
            let v = api::json(c.clusters_create(&body).await?).await?;
            env.done(Kind::Cluster, &v, "registered")
        }
        ClusterCmd::Delete { name } => {
            c.clusters_delete(&name).await?;
            println!("cluster/{name} deleted");
            Ok(())
        }
        ClusterCmd::Kubeconfig { name } => {
            let v = api::json(c.clusters_kubeconfig(&name).await?).await?;
            match env.printer.format {
                Format::Json | Format::Yaml => env.print(Kind::Other, &v),
                _ => {
                    print!(
                        "{}",
                        v.get("kubeconfig").and_then(Value::as_str).unwrap_or("")
                    );
                    Ok(())
                }
            }
        }
    }
}

fn pairs(p: &[(String, String)]) -> Value {
    Value::Object(
        p.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Quota values: numbers where the API takes integers (`pods`, `namespaces`).
fn quota(p: &[(String, String)]) -> Value {
    Value::Object(
        p.iter()
            .map(|(k, v)| {
                let value = match v.parse::<i64>() {
                    Ok(n) if k == "pods" || k == "namespaces" => json!(n),
                    _ => Value::String(v.clone()),
                };
                (k.clone(), value)
            })
            .collect(),
    )
}

async fn tenant(env: &mut Env, cmd: TenantCmd) -> Result<(), Error> {
    let c = env.client.clone();
    match cmd {
        TenantCmd::List => {
            let v = match env.cluster_flag() {
                Some(cluster) => api::json(c.tenants_list(&cluster).await?).await?,
                None => api::json(c.tenants_list_all().await?).await?,
            };
            env.print(Kind::Tenant, &v)
        }
        TenantCmd::Get { name } => {
            let v = match env.cluster_flag() {
                Some(cluster) => api::json(c.tenants_get(&cluster, &name).await?).await?,
                None => api::json(c.tenants_get_by_name(&name).await?).await?,
            };
            env.print(Kind::Tenant, &v)
        }
        TenantCmd::Create {
            name,
            owners,
            display_name,
            ingress_hosts,
            quota: q,
            meta,
            file,
            wait,
        } => {
            let flags = name.is_some()
                || !owners.is_empty()
                || display_name.is_some()
                || !ingress_hosts.is_empty()
                || !q.is_empty()
                || !meta.labels.is_empty()
                || !meta.annotations.is_empty();
            let mut body = if file.file.is_some() {
                body_or(&file, None)?
            } else {
                json!({})
            };
            if flags {
                let obj = body
                    .as_object_mut()
                    .ok_or_else(|| Error::Usage("the file must hold a JSON object".into()))?;
                let mut set = |k: &str, v: Value| {
                    obj.insert(k.into(), v);
                };
                if let Some(n) = &name {
                    set("name", json!(n));
                }
                if !owners.is_empty() {
                    set("owners", json!(owners));
                }
                if let Some(d) = &display_name {
                    set("displayName", json!(d));
                }
                if !ingress_hosts.is_empty() {
                    set("ingressHosts", json!(ingress_hosts));
                }
                if !q.is_empty() {
                    set("quota", quota(&q));
                }
                if !meta.labels.is_empty() {
                    set("labels", pairs(&meta.labels));
                }
                if !meta.annotations.is_empty() {
                    set("annotations", pairs(&meta.annotations));
                }
            } else if file.file.is_none() {
                return Err(Error::Usage(
                    "tenant create needs a NAME (and flags) or -f FILE".into(),
                ));
            }
            let cluster = env.cluster_flag().or(env.cluster.clone()).ok_or_else(|| {
                Error::Usage(
                    "tenant create needs --cluster (the workload cluster, e.g. local)".into(),
                )
            })?;
            let v = api::json(c.tenants_create(&cluster, &body).await?).await?;
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if wait.wait {
                let v = crate::wait::object(env, Kind::Tenant, &cluster, &name, None, wait.timeout)
                    .await?;
                return env.done(Kind::Tenant, &v, "created and ready");
            }
            env.done(Kind::Tenant, &v, "created")
        }
        TenantCmd::Update { name, file } => {
            let body = body_or(&file, None)?;
            let cluster = env.cluster_of(&name).await?;
            let v = api::json(c.tenants_update(&cluster, &name, &body).await?).await?;
            env.done(Kind::Tenant, &v, "updated")
        }
        TenantCmd::Delete { name } => {
            let cluster = env.cluster_of(&name).await?;
            let v = api::json(c.tenants_delete(&cluster, &name).await?).await?;
            env.done(Kind::Tenant, &v, "deleted")
        }
        TenantCmd::Owners { name, owners } => {
            let cluster = env.cluster_of(&name).await?;
            let body = json!({ "owners": owners });
            let v = api::json(c.tenants_owners(&cluster, &name, &body).await?).await?;
            env.done(Kind::Tenant, &v, "owners replaced")
        }
        TenantCmd::Quota { name, set, file } => {
            let body = body_or(&file, (!set.is_empty()).then(|| quota(&set)))?;
            let cluster = env.cluster_of(&name).await?;
            let v = api::json(c.tenants_quotas(&cluster, &name, &body).await?).await?;
            env.done(Kind::Tenant, &v, "quota replaced")
        }
        TenantCmd::Limits { name, set, file } => {
            let body = body_or(&file, (!set.is_empty()).then(|| pairs(&set)))?;
            let cluster = env.cluster_of(&name).await?;
            let v = api::json(c.tenants_limits(&cluster, &name, &body).await?).await?;
            env.done(Kind::Tenant, &v, "limits replaced")
        }
        TenantCmd::NetworkPolicies { name, file } => {
            let body = body_or(&file, None)?;
            let cluster = env.cluster_of(&name).await?;
            let v = api::json(c.tenants_network_policies(&cluster, &name, &body).await?).await?;
            env.done(Kind::Tenant, &v, "network policies replaced")
        }
        TenantCmd::Usage { name } => {
            let v = api::json(c.tenants_usage(&name).await?).await?;
            print_usage(env, &v)
        }
    }
}

/// Usage as `NAMESPACE RESOURCE USED HARD` rows.
fn print_usage(env: &Env, v: &Value) -> Result<(), Error> {
    if !matches!(env.printer.format, Format::Table | Format::Wide) {
        return env.print(Kind::Other, v);
    }
    let mut rows = Vec::new();
    let mut add = |scope: &str, usage: Option<&Value>| {
        let Some(usage) = usage else { return };
        let hard = usage.get("hard").and_then(Value::as_object);
        let used = usage.get("used").and_then(Value::as_object);
        let mut keys: Vec<&String> = hard.into_iter().chain(used).flat_map(Map::keys).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let get = |m: Option<&Map<String, Value>>| {
                m.and_then(|m| m.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            rows.push(vec![scope.to_owned(), k.clone(), get(used), get(hard)]);
        }
    };
    if let Some(t) = v.get("tenant").and_then(Value::as_str) {
        add(&format!("tenant/{t}"), v.get("usage"));
        for p in v
            .get("projects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = p.get("project").and_then(Value::as_str).unwrap_or("?");
            add(&format!("project/{name}"), p.get("usage"));
        }
    } else {
        let name = v.get("project").and_then(Value::as_str).unwrap_or("?");
        add(&format!("project/{name}"), v.get("usage"));
    }
    if rows.is_empty() {
        eprintln!("No usage reported yet.");
        return Ok(());
    }
    print!(
        "{}",
        crate::output::table(
            (!env.printer.no_headers).then_some(&["SCOPE", "RESOURCE", "USED", "HARD"][..]),
            &rows,
            None
        )
    );
    Ok(())
}

async fn scope(env: &mut Env, scope: &TenantScope) -> Result<(String, String), Error> {
    let tenant = env.tenant(&scope.tenant).await?;
    let cluster = env.cluster_of(&tenant).await?;
    Ok((cluster, tenant))
}

fn access(developers: Vec<String>, readers: Vec<String>) -> Value {
    json!({ "developers": developers, "readers": readers })
}

async fn project(env: &mut Env, cmd: ProjectCmd) -> Result<(), Error> {
    let c = env.client.clone();
    match cmd {
        ProjectCmd::List { scope: s } => {
            let (cl, t) = scope(env, &s).await?;
            env.print(
                Kind::Project,
                &api::json(c.projects_list(&cl, &t).await?).await?,
            )
        }
        ProjectCmd::Get { name, scope: s } => {
            let (cl, t) = scope(env, &s).await?;
            env.print(
                Kind::Project,
                &api::json(c.projects_get(&cl, &t, &name).await?).await?,
            )
        }
        ProjectCmd::Create {
            name,
            scope: s,
            developers,
            readers,
            meta,
            file,
            wait,
        } => {
            let mut body = if file.file.is_some() {
                body_or(&file, None)?
            } else {
                json!({})
            };
            let obj = body
                .as_object_mut()
                .ok_or_else(|| Error::Usage("the file must hold a JSON object".into()))?;
            if let Some(n) = &name {
                obj.insert("name".into(), json!(n));
            }
            if !developers.is_empty() || !readers.is_empty() {
                obj.insert("access".into(), access(developers, readers));
            }
            if !meta.labels.is_empty() {
                obj.insert("labels".into(), pairs(&meta.labels));
            }
            if !meta.annotations.is_empty() {
                obj.insert("annotations".into(), pairs(&meta.annotations));
            }
            if !obj.contains_key("name") {
                return Err(Error::Usage(
                    "project create needs a NAME or -f FILE".into(),
                ));
            }
            let (cl, t) = scope(env, &s).await?;
            let v = api::json(c.projects_create(&cl, &t, &body).await?).await?;
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if wait.wait {
                let v = crate::wait::object(env, Kind::Project, &cl, &t, Some(&name), wait.timeout)
                    .await?;
                return env.done(Kind::Project, &v, "created and ready");
            }
            env.done(Kind::Project, &v, "created")
        }
        ProjectCmd::Update {
            name,
            scope: s,
            file,
        } => {
            let body = body_or(&file, None)?;
            let (cl, t) = scope(env, &s).await?;
            let v = api::json(c.projects_update(&cl, &t, &name, &body).await?).await?;
            env.done(Kind::Project, &v, "updated")
        }
        ProjectCmd::Delete { name, scope: s } => {
            let (cl, t) = scope(env, &s).await?;
            let v = api::json(c.projects_delete(&cl, &t, &name).await?).await?;
            env.done(Kind::Project, &v, "deleting")
        }
        ProjectCmd::Access {
            name,
            scope: s,
            developers,
            readers,
            file,
        } => {
            let flags = (!developers.is_empty() || !readers.is_empty())
                .then(|| access(developers, readers));
            let body = body_or(&file, flags)?;
            let (cl, t) = scope(env, &s).await?;
            let v = api::json(c.projects_access(&cl, &t, &name, &body).await?).await?;
            env.done(Kind::Project, &v, "access replaced")
        }
        ProjectCmd::Usage { name, scope: s } => {
            let (cl, t) = scope(env, &s).await?;
            let v = api::json(c.projects_usage(&cl, &t, &name).await?).await?;
            print_usage(env, &v)
        }
    }
}

async fn token(env: &mut Env, cmd: TokenCmd) -> Result<(), Error> {
    let c = env.client.clone();
    match cmd {
        TokenCmd::Create {
            subject,
            roles,
            tenant,
            project,
            ttl,
        } => {
            let mut body = json!({ "subject": subject, "roles": roles });
            if let Some(t) = tenant {
                body["tenant"] = json!(t);
            }
            if let Some(p) = project {
                body["project"] = json!(p);
            }
            if let Some(ttl) = ttl {
                body["ttlSeconds"] = json!(ttl.as_secs());
            }
            let v = api::json(c.tokens_create(&body).await?).await?;
            match env.printer.format {
                Format::Json | Format::Yaml => env.print(Kind::Other, &v),
                _ => {
                    // The token alone on stdout (for `$(...)`), its id and expiry on stderr.
                    println!("{}", v.get("token").and_then(Value::as_str).unwrap_or(""));
                    eprintln!(
                        "token {} expires {}",
                        v.get("jti").and_then(Value::as_str).unwrap_or("?"),
                        v.get("expiresAt").and_then(Value::as_str).unwrap_or("?")
                    );
                    Ok(())
                }
            }
        }
        TokenCmd::List => env.print(Kind::Token, &api::json(c.tokens_list().await?).await?),
        TokenCmd::Revoke { jti } => {
            let v = api::json(c.tokens_revoke(&jti).await?).await?;
            match env.printer.format {
                Format::Table | Format::Wide => {
                    println!("token/{jti} revoked");
                    Ok(())
                }
                _ => env.print(Kind::Other, &v),
            }
        }
    }
}

/// The kubeconfig endpoints' `mode`.
fn mode(out: &crate::args::KubeconfigOut) -> Option<String> {
    out.exec.then(|| "exec".to_owned())
}

async fn kubeconfig(env: &mut Env, cmd: KubeconfigCmd) -> Result<(), Error> {
    let c = env.client.clone();
    let (v, out) = match cmd {
        KubeconfigCmd::Tenant { name, out } => {
            let query = crate::api::KubeconfigsTenantByNameQuery {
                role: out.role.clone(),
                subject: out.subject.clone(),
                ttl_seconds: out.ttl.map(|d| d.as_secs() as i64),
                format: None,
                mode: mode(&out),
            };
            let v = match env.cluster_flag() {
                Some(cluster) => {
                    let query = crate::api::KubeconfigsTenantQuery {
                        role: query.role,
                        subject: query.subject,
                        ttl_seconds: query.ttl_seconds,
                        format: None,
                        mode: query.mode,
                    };
                    api::json(c.kubeconfigs_tenant(&cluster, &name, &query, None).await?).await?
                }
                None => api::json(c.kubeconfigs_tenant_by_name(&name, &query, None).await?).await?,
            };
            (v, out)
        }
        KubeconfigCmd::Project {
            name,
            scope: s,
            out,
        } => {
            let (cl, t) = scope(env, &s).await?;
            // readOnly subjects may only use the GET form; everyone else the POST form.
            let v = if out.role.as_deref() == Some("readOnly") {
                let query = crate::api::KubeconfigsProjectByQueryQuery {
                    role: out.role.clone(),
                    subject: out.subject.clone(),
                    ttl_seconds: out.ttl.map(|d| d.as_secs() as i64),
                    format: None,
                    mode: mode(&out),
                };
                api::json(
                    c.kubeconfigs_project_by_query(&cl, &t, &name, &query, None)
                        .await?,
                )
                .await?
            } else {
                let query = crate::api::KubeconfigsProjectQuery {
                    mode: mode(&out),
                    ..Default::default()
                };
                let mut body = json!({});
                if let Some(r) = &out.role {
                    body["role"] = json!(r);
                }
                if let Some(s) = &out.subject {
                    body["subject"] = json!(s);
                }
                if let Some(ttl) = out.ttl {
                    body["ttlSeconds"] = json!(ttl.as_secs());
                }
                api::json(
                    c.kubeconfigs_project(&cl, &t, &name, &query, Some(&body))
                        .await?,
                )
                .await?
            };
            (v, out)
        }
    };
    let text = v
        .get("kubeconfig")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Other("the answer holds no kubeconfig".into()))?;
    // An exec kubeconfig runs `kubenova credential` with this context (and this config file,
    // when it is not the default one), whatever the current context is when kubectl runs.
    let pinned;
    let text = if out.exec {
        let context = env.context_name.clone().ok_or_else(|| {
            Error::Usage(
                "an --exec kubeconfig uses a saved context: `kubenova login` first (not --server with --token)"
                    .into(),
            )
        })?;
        let config_file = std::env::var_os("KUBENOVA_CONFIG")
            .filter(|p| !p.is_empty())
            .map(|_| config::path())
            .transpose()?;
        pinned = crate::kubeconfig::pin_exec(text, &context, config_file.as_deref())?;
        pinned.as_str()
    } else {
        text
    };
    let about = if out.exec {
        format!(
            "kubeconfig for {} ({}): kubectl gets short-lived tokens from context {:?} while its session lasts",
            v.get("subject").and_then(Value::as_str).unwrap_or("?"),
            v.get("role").and_then(Value::as_str).unwrap_or("?"),
            env.context_name.as_deref().unwrap_or("?"),
        )
    } else {
        format!(
            "kubeconfig for {} ({}), expires {}, token id {}",
            v.get("subject").and_then(Value::as_str).unwrap_or("?"),
            v.get("role").and_then(Value::as_str).unwrap_or("?"),
            v.get("expiresAt").and_then(Value::as_str).unwrap_or("?"),
            v.get("jti").and_then(Value::as_str).unwrap_or("?"),
        )
    };
    if out.merge {
        let (path, context) = crate::kubeconfig::merge(text, out.use_context)?;
        println!(
            "Merged context {context:?} into {}{}",
            path.display(),
            if out.use_context {
                " and made it the current context"
            } else {
                ""
            }
        );
        eprintln!("{about}");
    } else if let Some(path) = &out.file {
        config::write_private(path, text.as_bytes())?;
        println!("Wrote {}", path.display());
        eprintln!("{about}");
    } else {
        match env.printer.format {
            Format::Json | Format::Yaml if !out.exec => env.print(Kind::Other, &v)?,
            _ => {
                print!("{text}");
                if !text.ends_with('\n') {
                    println!();
                }
            }
        }
    }
    Ok(())
}
