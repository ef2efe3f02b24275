//! `kubenova app ...`.

use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::api::{self, Error};
use crate::args::{AppCmd, AppFlags, ProjectScope, WaitArg};
use crate::commands::{Env, body_or, read_body};
use crate::output::{Format, Kind};
use crate::wait::Goal;

/// Where an app lives.
pub(crate) struct Place {
    pub(crate) cluster: String,
    pub(crate) tenant: String,
    pub(crate) project: String,
}

async fn place(env: &mut Env, scope: &ProjectScope) -> Result<Place, Error> {
    let tenant = env.tenant(&scope.tenant).await?;
    let project = env.project(&scope.project).await?;
    let cluster = env.cluster_of(&tenant).await?;
    Ok(Place {
        cluster,
        tenant,
        project,
    })
}

/// An AppRequest from flags; `None` when no flag was given.
fn from_flags(name: Option<&str>, f: &AppFlags) -> Result<Option<Value>, Error> {
    if f.image.is_none() && f.chart.is_none() {
        let stray =
            f.tag.is_some() || !f.ports.is_empty() || f.replicas.is_some() || !f.env.is_empty();
        if stray {
            return Err(Error::Usage(
                "--tag, --port, --replicas and --env need --image".into(),
            ));
        }
        return Ok(None);
    }
    let mut body = json!({});
    if let Some(n) = name {
        body["name"] = json!(n);
    }
    if let Some(image) = &f.image {
        let mut i = json!({ "image": image });
        if let Some(t) = &f.tag {
            i["tag"] = json!(t);
        }
        if !f.ports.is_empty() {
            i["ports"] = Value::Array(f.ports.iter().map(|p| json!({ "port": p })).collect());
        }
        if let Some(r) = f.replicas {
            i["replicas"] = json!(r);
        }
        if !f.env.is_empty() {
            i["env"] = Value::Array(
                f.env
                    .iter()
                    .map(|(k, v)| json!({ "name": k, "value": v }))
                    .collect(),
            );
        }
        body["image"] = i;
    }
    if let Some(chart) = &f.chart {
        let (Some(repo), Some(version)) = (&f.repo, &f.chart_version) else {
            return Err(Error::Usage(
                "--chart needs --repo and --chart-version".into(),
            ));
        };
        let mut h = json!({ "chart": chart, "repo": repo, "version": version });
        if let Some(values) = &f.values {
            h["values"] = read_body(values)?;
        }
        body["helm"] = h;
    }
    Ok(Some(body))
}

/// Runs an app command.
pub(crate) async fn run(env: &mut Env, cmd: AppCmd) -> Result<(), Error> {
    let c = env.client.clone();
    match cmd {
        AppCmd::List { scope } => {
            let p = place(env, &scope).await?;
            let v = api::json(c.apps_list(&p.cluster, &p.tenant, &p.project).await?).await?;
            env.print(Kind::App, &v)
        }
        AppCmd::Get { name, scope } => {
            let p = place(env, &scope).await?;
            let v = api::json(c.apps_get(&p.cluster, &p.tenant, &p.project, &name).await?).await?;
            env.print(Kind::App, &v)
        }
        AppCmd::Create {
            name,
            scope,
            flags,
            file,
            wait,
        } => {
            let mut body = body_or(&file, from_flags(name.as_deref(), &flags)?)?;
            if let (Some(n), Some(obj)) = (&name, body.as_object_mut()) {
                obj.insert("name".into(), json!(n));
            }
            let p = place(env, &scope).await?;
            let v = api::json(
                c.apps_create(&p.cluster, &p.tenant, &p.project, &body)
                    .await?,
            )
            .await?;
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            finish(
                env,
                &p,
                &name,
                &v,
                "created",
                &wait,
                Goal::Running { after: None },
            )
            .await
        }
        AppCmd::Update {
            name,
            scope,
            file,
            wait,
        } => {
            let body = body_or(&file, None)?;
            let p = place(env, &scope).await?;
            let before = revision(env, &p, &name, &wait).await?;
            let v = api::json(
                c.apps_update(&p.cluster, &p.tenant, &p.project, &name, &body)
                    .await?,
            )
            .await?;
            finish(
                env,
                &p,
                &name,
                &v,
                "updated",
                &wait,
                Goal::Running { after: before },
            )
            .await
        }
        AppCmd::SetImage {
            name,
            scope,
            tag,
            image,
            wait,
        } => {
            let mut body = json!({ "tag": tag });
            if let Some(i) = image {
                body["image"] = json!(i);
            }
            let p = place(env, &scope).await?;
            let before = revision(env, &p, &name, &wait).await?;
            let v = api::json(
                c.apps_image_update(&p.cluster, &p.tenant, &p.project, &name, &body)
                    .await?,
            )
            .await?;
            finish(
                env,
                &p,
                &name,
                &v,
                "image updated",
                &wait,
                Goal::Running { after: before },
            )
            .await
        }
        AppCmd::Deploy { name, scope, wait } => {
            let p = place(env, &scope).await?;
            let before = revision(env, &p, &name, &wait).await?;
            let v = api::json(
                c.apps_deploy(&p.cluster, &p.tenant, &p.project, &name)
                    .await?,
            )
            .await?;
            finish(
                env,
                &p,
                &name,
                &v,
                "deploying",
                &wait,
                Goal::Running { after: before },
            )
            .await
        }
        AppCmd::Revisions { name, scope } => {
            let p = place(env, &scope).await?;
            let v = api::json(
                c.apps_revisions(&p.cluster, &p.tenant, &p.project, &name)
                    .await?,
            )
            .await?;
            env.print(Kind::Revision, &v)
        }
        AppCmd::Rollback {
            name,
            scope,
            revision: to,
            wait,
        } => {
            let p = place(env, &scope).await?;
            let before = revision(env, &p, &name, &wait).await?;
            let body = to.map(|r| json!({ "revision": r }));
            let v = api::json(
                c.apps_rollback(&p.cluster, &p.tenant, &p.project, &name, body.as_ref())
                    .await?,
            )
            .await?;
            finish(
                env,
                &p,
                &name,
                &v,
                "rolling back",
                &wait,
                Goal::Running { after: before },
            )
            .await
        }
        AppCmd::Suspend { name, scope, wait } => {
            let p = place(env, &scope).await?;
            let v = api::json(
                c.apps_suspend(&p.cluster, &p.tenant, &p.project, &name)
                    .await?,
            )
            .await?;
            finish(env, &p, &name, &v, "suspending", &wait, Goal::Suspended).await
        }
        AppCmd::Resume { name, scope, wait } => {
            let p = place(env, &scope).await?;
            let before = revision(env, &p, &name, &wait).await?;
            let v = api::json(
                c.apps_resume(&p.cluster, &p.tenant, &p.project, &name)
                    .await?,
            )
            .await?;
            finish(
                env,
                &p,
                &name,
                &v,
                "resuming",
                &wait,
                Goal::Running { after: before },
            )
            .await
        }
        AppCmd::Logs {
            name,
            scope,
            follow,
            tail,
            component,
        } => {
            let p = place(env, &scope).await?;
            let query = api::AppsLogsQuery {
                component,
                follow: Some(follow),
                tail,
            };
            let response = c
                .apps_logs(&p.cluster, &p.tenant, &p.project, &name, &query)
                .await?;
            let mut stream = response.bytes_stream();
            use std::io::Write as _;
            let mut stdout = std::io::stdout();
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| Error::Transport(format!("the log stream broke: {e}")))?;
                stdout
                    .write_all(&chunk)
                    .and_then(|()| stdout.flush())
                    .map_err(|e| Error::Other(format!("writing the logs: {e}")))?;
            }
            Ok(())
        }
        AppCmd::Status { name, scope } => {
            let p = place(env, &scope).await?;
            let v = api::json(
                c.apps_status(&p.cluster, &p.tenant, &p.project, &name)
                    .await?,
            )
            .await?;
            match env.printer.format {
                Format::Table | Format::Wide => {
                    print!("{}", describe_status(&v));
                    Ok(())
                }
                _ => env.print(Kind::Other, &v),
            }
        }
        AppCmd::Delete { name, scope } => {
            let p = place(env, &scope).await?;
            c.apps_delete(&p.cluster, &p.tenant, &p.project, &name)
                .await?;
            println!("app/{name} deleted");
            Ok(())
        }
        AppCmd::Traits { name, scope, file } => {
            let body = body_or(&file, None)?;
            let p = place(env, &scope).await?;
            let v = api::json(
                c.apps_traits(&p.cluster, &p.tenant, &p.project, &name, &body)
                    .await?,
            )
            .await?;
            env.done(Kind::App, &v, "traits replaced")
        }
        AppCmd::Policies { name, scope, file } => {
            let body = body_or(&file, None)?;
            let p = place(env, &scope).await?;
            let v = api::json(
                c.apps_policies(&p.cluster, &p.tenant, &p.project, &name, &body)
                    .await?,
            )
            .await?;
            env.done(Kind::App, &v, "policies replaced")
        }
        AppCmd::Action {
            name,
            action,
            scope,
            file,
        } => {
            let body = match &file.file {
                Some(path) => Some(read_body(path)?),
                None => None,
            };
            let p = place(env, &scope).await?;
            let v = api::json(
                c.apps_action(
                    &p.cluster,
                    &p.tenant,
                    &p.project,
                    &format!("{name}:{action}"),
                    body.as_ref(),
                )
                .await?,
            )
            .await?;
            match env.printer.format {
                Format::Table | Format::Wide => {
                    println!("app/{name} {action}");
                    Ok(())
                }
                _ => env.print(Kind::Other, &v),
            }
        }
    }
}

/// The current revision before a change, when the command will wait for the next one.
async fn revision(
    env: &Env,
    p: &Place,
    name: &str,
    wait: &WaitArg,
) -> Result<Option<String>, Error> {
    if !wait.wait {
        return Ok(None);
    }
    let v = api::json(
        env.client
            .apps_status(&p.cluster, &p.tenant, &p.project, name)
            .await?,
    )
    .await?;
    Ok(v.get("revision").and_then(Value::as_str).map(str::to_owned))
}

async fn finish(
    env: &mut Env,
    p: &Place,
    name: &str,
    v: &Value,
    verb: &str,
    wait: &WaitArg,
    goal: Goal,
) -> Result<(), Error> {
    if !wait.wait {
        return env.done(Kind::App, v, verb);
    }
    let status = crate::wait::app(env, p, name, goal, wait.timeout).await?;
    match env.printer.format {
        Format::Table | Format::Wide => {
            println!(
                "app/{name} {} (revision {})",
                status.get("phase").and_then(Value::as_str).unwrap_or("?"),
                status
                    .get("revision")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            );
            Ok(())
        }
        _ => env.print(Kind::Other, &status),
    }
}

/// `app status` as lines a person reads.
pub(crate) fn describe_status(v: &Value) -> String {
    let get = |k: &str| match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    };
    let mut out = String::new();
    for (label, key) in [
        ("Name", "name"),
        ("Kind", "kind"),
        ("Phase", "phase"),
        ("Revision", "revision"),
        ("Suspended", "suspended"),
        ("Last deployed", "lastDeployed"),
        ("Last edit", "lastEdit"),
        ("Last error", "lastError"),
    ] {
        out.push_str(&format!("{:<15}{}\n", format!("{label}:"), get(key)));
    }
    out.push_str("Components:\n");
    for c in v
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "  {}  healthy={}  {}\n",
            c.get("name").and_then(Value::as_str).unwrap_or("?"),
            c.get("healthy").and_then(Value::as_bool).unwrap_or(false),
            c.get("message").and_then(Value::as_str).unwrap_or("")
        ));
    }
    out.push_str("Conditions:\n");
    for c in v
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "  {}={}  {}  {}\n",
            c.get("type").and_then(Value::as_str).unwrap_or("?"),
            c.get("status").and_then(Value::as_str).unwrap_or("?"),
            c.get("reason").and_then(Value::as_str).unwrap_or(""),
            c.get("message").and_then(Value::as_str).unwrap_or("")
        ));
    }
    out.push_str("Pods:\n");
    let pods: Vec<Vec<String>> = v
        .get("pods")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            ["name", "component", "phase", "ready"]
                .iter()
                .map(|k| match p.get(*k) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(o) => o.to_string(),
                })
                .collect()
        })
        .collect();
    for line in
        crate::output::table(Some(&["NAME", "COMPONENT", "PHASE", "READY"]), &pods, None).lines()
    {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}
