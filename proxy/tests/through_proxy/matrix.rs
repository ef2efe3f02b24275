//! The isolation matrix (issue 14): {tenantOwner, projectDev, readOnly of the tenant, readOnly of
//! a project} x {own project, another project of the same tenant, another tenant, cluster scope}
//! x {get, list, watch, create, update, delete, exec, port-forward, logs} on namespaced kinds
//! (ConfigMaps, Secrets, Pods) and cluster-scoped kinds (namespaces, nodes, storage, ingress,
//! priority and runtime classes, persistent volumes, cluster roles, ConfigMaps across
//! namespaces). 432 cells per mode, each with the status code it must get and who must answer
//! it; every cell is checked and every failing cell is named (role, target, verb, kind, expected,
//! got).
//!
//! Besides the code, each cell is checked against kube-apiserver's audit log, found by the
//! request id the proxy sends as `Audit-Id`: a cell the proxy refuses never reaches the apiserver;
//! a cell forwarded as the token's identity reaches it impersonating exactly that user and those
//! groups; and no cell reaches it as anybody else (only the proxy's or capsule-proxy's own
//! ServiceAccount, impersonating nobody, for the lists they filter themselves).
//!
//! One set of tenants and projects serves every cell (raw HTTP, one HTTP/2 connection, one
//! HTTP/1.1 connection per upgrade). The real kubectl runs the exec, port-forward and logs cells
//! of the own project and the other tenant in a second test.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use http::{Method, Request, Version};
use kubenova_api::{Claims, Role};
use serde_json::{Value, json};
use testenv::proxy::ProxyMode;

use super::MODE;
use super::harness::{Background, claims, eventually, harness, kubeconfig, tenant_with_projects};
use super::http::{Body, Conn, text};

/// Who makes the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    TenantOwner,
    ProjectDev,
    /// readOnly of the whole tenant.
    ReadOnlyTenant,
    /// readOnly of the own project.
    ReadOnlyProject,
}

const WHO: [Who; 4] = [
    Who::TenantOwner,
    Who::ProjectDev,
    Who::ReadOnlyTenant,
    Who::ReadOnlyProject,
];

/// Where the request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// `<tenant>-one`, the project of the project tokens.
    OwnProject,
    /// `<tenant>-two`.
    OtherProject,
    /// `<other tenant>-one`.
    OtherTenant,
    /// No namespace.
    ClusterScope,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Delete,
    Exec,
    PortForward,
    Logs,
}

const OBJECT_VERBS: [Verb; 6] = [
    Verb::Get,
    Verb::List,
    Verb::Watch,
    Verb::Create,
    Verb::Update,
    Verb::Delete,
];
const POD_VERBS: [Verb; 6] = [
    Verb::Get,
    Verb::List,
    Verb::Watch,
    Verb::Exec,
    Verb::PortForward,
    Verb::Logs,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    ConfigMap,
    Secret,
    Pod,
    Namespace,
    Node,
    StorageClass,
    IngressClass,
    PriorityClass,
    RuntimeClass,
    PersistentVolume,
    ClusterRole,
}

/// The cluster-scoped kinds capsule-proxy filters for tenant owners (of those the matrix uses).
const FILTERED_BY_CAPSULE_PROXY: [Kind; 6] = [
    Kind::Node,
    Kind::StorageClass,
    Kind::IngressClass,
    Kind::PriorityClass,
    Kind::RuntimeClass,
    Kind::PersistentVolume,
];

/// The answer a cell must get, and who gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// Refused by kubenova-proxy itself (`KN-<code>` in a Status); never reaches the apiserver.
    Proxy(u16),
    /// Forwarded as the token's identity; the apiserver (RBAC, Capsule) answers this code and
    /// its audit log shows the request impersonating exactly that identity.
    As(u16),
    /// Answered by a filter that runs as the proxy's or capsule-proxy's own ServiceAccount (the
    /// namespace list; capsule-proxy's cluster-scoped modules), or by capsule-proxy itself; the
    /// apiserver sees nobody else.
    Filtered(u16),
}

impl Answer {
    fn code(self) -> u16 {
        match self {
            Answer::Proxy(c) | Answer::As(c) | Answer::Filtered(c) => c,
        }
    }
}

/// One cell.
#[derive(Clone, Copy, Debug)]
struct Cell {
    who: Who,
    at: At,
    verb: Verb,
    kind: Kind,
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} / {:?} / {:?} / {:?}",
            self.who, self.at, self.verb, self.kind
        )
    }
}

/// Every cell: namespaced kinds in the three namespaces, cluster-scoped kinds (and ConfigMaps
/// without a namespace) at cluster scope, for each requester.
fn cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    for who in WHO {
        for at in [At::OwnProject, At::OtherProject, At::OtherTenant] {
            for (kind, verbs) in [
                (Kind::ConfigMap, OBJECT_VERBS),
                (Kind::Secret, OBJECT_VERBS),
                (Kind::Pod, POD_VERBS),
            ] {
                for verb in verbs {
                    cells.push(Cell {
                        who,
                        at,
                        verb,
                        kind,
                    });
                }
            }
        }
        for kind in [
            Kind::ConfigMap,
            Kind::Namespace,
            Kind::Node,
            Kind::StorageClass,
            Kind::IngressClass,
            Kind::PriorityClass,
            Kind::RuntimeClass,
            Kind::PersistentVolume,
            Kind::ClusterRole,
        ] {
            for verb in OBJECT_VERBS {
                cells.push(Cell {
                    who,
                    at: At::ClusterScope,
                    verb,
                    kind,
                });
            }
        }
    }
    cells
}

/// What `cell` must get in `mode`.
fn expected(cell: Cell, mode: ProxyMode) -> Answer {
    let Cell {
        who,
        at,
        verb,
        kind,
    } = cell;
    if at != At::ClusterScope {
        let in_scope = match at {
            At::OwnProject => true,
            At::OtherProject => matches!(who, Who::TenantOwner | Who::ReadOnlyTenant),
            _ => false,
        };
        if !in_scope {
            return Answer::Proxy(403);
        }
        // Owners are Capsule's `admin` in every tenant namespace, developers `edit` in their
        // project; readers `view`, which reads neither Secrets nor runs anything in a pod.
        let writes = matches!(who, Who::TenantOwner | Who::ProjectDev);
        let reads = matches!(verb, Verb::Get | Verb::List | Verb::Watch | Verb::Logs);
        if !(writes || reads && kind != Kind::Secret) {
            return Answer::As(403);
        }
        return Answer::As(match verb {
            Verb::Create => 201,
            Verb::Exec | Verb::PortForward => 101,
            _ => 200,
        });
    }
    let read = matches!(verb, Verb::Get | Verb::List | Verb::Watch);
    match kind {
        // Across namespaces: a list or watch in each of the token's namespaces, as the token.
        Kind::ConfigMap if matches!(verb, Verb::List | Verb::Watch) => Answer::As(200),
        // Only the token's namespaces, filtered by the proxy (as itself, with selectors) or,
        // for tenant owners in capsule-proxy mode, by capsule-proxy.
        Kind::Namespace if matches!(verb, Verb::List | Verb::Watch) => Answer::Filtered(200),
        // Capsule admits a tenant owner's namespace into its tenant. The proxy forwards every
        // tenant-scoped token's creation, so RBAC refuses the tenant reader's.
        Kind::Namespace if verb == Verb::Create && who == Who::TenantOwner => Answer::As(201),
        Kind::Namespace if verb == Verb::Create && who == Who::ReadOnlyTenant => Answer::As(403),
        k if FILTERED_BY_CAPSULE_PROXY.contains(&k)
            && read
            && who == Who::TenantOwner
            && mode == ProxyMode::CapsuleProxy =>
        {
            Answer::Filtered(match (k, verb) {
                // Nodes: those the Tenant's nodeSelector selects, every node when it has none.
                (Kind::Node, _) => 200,
                // The others need a ProxySetting granting List (capsule-proxy's default
                // grants none): a list or watch is refused as "not allowed" (400), a get finds
                // nothing (404).
                (_, Verb::Get) => 404,
                _ => 400,
            })
        }
        _ => Answer::Proxy(403),
    }
}

/// The shared world of the matrix.
struct World {
    tenant: String,
    other_tenant: String,
    /// Suffix of the cluster-scoped objects made for this run.
    suffix: String,
}

const POD: &str = "mx-pod";
const OBJECT: &str = "mx-object";

impl World {
    fn namespace(&self, at: At) -> Option<String> {
        match at {
            At::OwnProject => Some(format!("{}-one", self.tenant)),
            At::OtherProject => Some(format!("{}-two", self.tenant)),
            At::OtherTenant => Some(format!("{}-one", self.other_tenant)),
            At::ClusterScope => None,
        }
    }

    fn claims(&self, who: Who) -> Claims {
        let sub = format!("mx-{who:?}-{}", self.suffix).to_lowercase();
        match who {
            Who::TenantOwner => claims(&sub, &[Role::TenantOwner], Some(&self.tenant), None),
            Who::ProjectDev => claims(&sub, &[Role::ProjectDev], Some(&self.tenant), Some("one")),
            Who::ReadOnlyTenant => claims(&sub, &[Role::ReadOnly], Some(&self.tenant), None),
            Who::ReadOnlyProject => {
                claims(&sub, &[Role::ReadOnly], Some(&self.tenant), Some("one"))
            }
        }
    }

    /// Name of the cluster-scoped object of `kind` made for this run (or a fixed one).
    fn cluster_object(&self, kind: Kind) -> String {
        match kind {
            Kind::Namespace => "kube-system".into(),
            Kind::Node => testenv::kwok::NODE_NAME.into(),
            Kind::ClusterRole => "view".into(),
            _ => format!("mx-{}", self.suffix),
        }
    }

    /// Tenants, projects and objects, made once by the administrator.
    fn set_up() -> World {
        let suffix = testenv::unique_name("mx");
        let world = World {
            tenant: format!("{suffix}-a"),
            other_tenant: format!("{suffix}-b"),
            suffix: suffix.clone(),
        };
        tenant_with_projects(&world.tenant, &["one", "two"]);
        tenant_with_projects(&world.other_tenant, &["one"]);
        let env = harness().env;
        let mut objects = Vec::new();
        for at in [At::OwnProject, At::OtherProject, At::OtherTenant] {
            let ns = world.namespace(at).expect("namespaced");
            let mut names = vec![OBJECT.to_owned()];
            names.extend(WHO.iter().map(|who| delete_name(*who)));
            for name in names {
                objects.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": ns}}));
                objects.push(json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": name, "namespace": ns}}));
            }
            objects.push(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": POD, "namespace": ns},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]}}));
        }
        let name = world.cluster_object(Kind::StorageClass);
        objects.extend([
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": name}, "provisioner": "kubenova.test/none"}),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                "metadata": {"name": name}, "spec": {"controller": "kubenova.test/none"}}),
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name}, "value": 1000}),
            json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                "metadata": {"name": name}, "handler": "runc"}),
            json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
                "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                         "hostPath": {"path": "/tmp/kubenova-mx"}}}),
        ]);
        env.apply(&json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string())
            .expect("the matrix's objects");
        for at in [At::OwnProject, At::OtherProject, At::OtherTenant] {
            let ns = world.namespace(at).expect("namespaced");
            env.kubectl_run(
                &[
                    "-n",
                    &ns,
                    "wait",
                    "--for=condition=Ready",
                    &format!("pod/{POD}"),
                    "--timeout=60s",
                ],
                None,
            )
            .expect("the pod runs");
        }
        world
    }

    /// Removes the cluster-scoped objects (the namespaces stay, like every test's).
    fn tear_down(&self) {
        let name = self.cluster_object(Kind::StorageClass);
        harness()
            .env
            .kubectl_run(
                &[
                    "delete",
                    &format!("storageclass/{name}"),
                    &format!("ingressclass/{name}"),
                    &format!("priorityclass/{name}"),
                    &format!("runtimeclass/{name}"),
                    &format!("persistentvolume/{name}"),
                    "--wait=false",
                ],
                None,
            )
            .expect("cleaned up");
    }

    /// The request for `cell`.
    fn request(&self, cell: Cell, token: &str) -> Request<Body> {
        let Cell { who, at, verb, kind } = cell;
        let ns = self.namespace(at);
        let (prefix, plural, api_version, kind_name) = match kind {
            Kind::ConfigMap => ("/api/v1", "configmaps", "v1", "ConfigMap"),
            Kind::Secret => ("/api/v1", "secrets", "v1", "Secret"),
            Kind::Pod => ("/api/v1", "pods", "v1", "Pod"),
            Kind::Namespace => ("/api/v1", "namespaces", "v1", "Namespace"),
            Kind::Node => ("/api/v1", "nodes", "v1", "Node"),
            Kind::PersistentVolume => ("/api/v1", "persistentvolumes", "v1", "PersistentVolume"),
            Kind::StorageClass => (
                "/apis/storage.k8s.io/v1",
                "storageclasses",
                "storage.k8s.io/v1",
                "StorageClass",
            ),
            Kind::IngressClass => (
                "/apis/networking.k8s.io/v1",
                "ingressclasses",
                "networking.k8s.io/v1",
                "IngressClass",
            ),
            Kind::PriorityClass => (
                "/apis/scheduling.k8s.io/v1",
                "priorityclasses",
                "scheduling.k8s.io/v1",
                "PriorityClass",
            ),
            Kind::RuntimeClass => (
                "/apis/node.k8s.io/v1",
                "runtimeclasses",
                "node.k8s.io/v1",
                "RuntimeClass",
            ),
            Kind::ClusterRole => (
                "/apis/rbac.authorization.k8s.io/v1",
                "clusterroles",
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
            ),
        };
        let collection = match &ns {
            Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}"),
            None => format!("{prefix}/{plural}"),
        };
        let existing = match (&ns, kind) {
            (_, Kind::Pod) => POD.to_owned(),
            (Some(_), _) | (None, Kind::ConfigMap) => OBJECT.to_owned(),
            (None, _) => self.cluster_object(kind),
        };
        let new_name = match kind {
            // Capsule admits it into the owner's tenant.
            Kind::Namespace => format!("{}-mx-{who:?}", self.tenant).to_lowercase(),
            _ => format!("mx-new-{who:?}").to_lowercase(),
        };
        let object = |name: &str| {
            let mut metadata = json!({"name": name});
            if let Some(ns) = &ns {
                metadata["namespace"] = json!(ns);
            }
            let mut object = json!({"apiVersion": api_version, "kind": kind_name,
                                    "metadata": metadata});
            let data = json!({"by": format!("{who:?}")});
            match kind {
                Kind::ConfigMap => object["data"] = data,
                Kind::Secret => object["stringData"] = data,
                _ => {}
            }
            object.to_string()
        };
        let builder = Request::builder().header("authorization", format!("Bearer {token}"));
        let (builder, body) = match verb {
            Verb::Get => (
                builder.method(Method::GET).uri(format!("{collection}/{existing}")),
                None,
            ),
            Verb::List => (builder.method(Method::GET).uri(collection), None),
            Verb::Watch => (
                builder
                    .method(Method::GET)
                    .uri(format!("{collection}?watch=true&timeoutSeconds=1")),
                None,
            ),
            Verb::Create => (
                builder.method(Method::POST).uri(collection),
                Some(object(&new_name)),
            ),
            // Cluster-scoped objects that the proxy must refuse to change are named after
            // nothing that exists, so a bypass is seen (404) without harm.
            Verb::Update => {
                let name = if ns.is_none() && kind != Kind::ConfigMap {
                    "mx-absent".to_owned()
                } else {
                    existing
                };
                (
                    builder
                        .method(Method::PUT)
                        .uri(format!("{collection}/{name}")),
                    Some(object(&name)),
                )
            }
            Verb::Delete => {
                let name = match (&ns, kind) {
                    (Some(_), _) => delete_name(who),
                    (None, Kind::ConfigMap) => OBJECT.to_owned(),
                    (None, _) => "mx-absent".to_owned(),
                };
                (
                    builder
                        .method(Method::DELETE)
                        .uri(format!("{collection}/{name}")),
                    None,
                )
            }
            Verb::Logs => (
                builder
                    .method(Method::GET)
                    .uri(format!("{collection}/{existing}/log")),
                None,
            ),
            // exec over WebSocket (a GET), port-forward over SPDY (a POST).
            Verb::Exec => (
                builder
                    .method(Method::GET)
                    .uri(format!(
                        "{collection}/{existing}/exec?command=true&stdout=true"
                    ))
                    .header("connection", "Upgrade")
                    .header("upgrade", "websocket")
                    .header("sec-websocket-version", "13")
                    .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                    .header("sec-websocket-protocol", "v5.channel.k8s.io"),
                None,
            ),
            Verb::PortForward => (
                builder
                    .method(Method::POST)
                    .uri(format!("{collection}/{existing}/portforward"))
                    .header("connection", "Upgrade")
                    .header("upgrade", "SPDY/3.1")
                    .header("x-stream-protocol-version", "portforward.k8s.io"),
                None,
            ),
        };
        let builder = if body.is_some() {
            builder.header("content-type", "application/json")
        } else {
            builder
        };
        builder
            .body(body.map(Body::from).unwrap_or_default())
            .expect("request")
    }
}

/// The ConfigMap and Secret `who` deletes in each namespace.
fn delete_name(who: Who) -> String {
    format!("mx-delete-{who:?}").to_lowercase()
}

/// What a cell got: the status, the body (not for watches and upgrades that succeeded) and the
/// proxy's request id.
struct Got {
    code: u16,
    body: String,
    request_id: String,
}

async fn send(conn: &mut Conn, cell: Cell, request: Request<Body>) -> Result<Got, String> {
    let upgrade = matches!(cell.verb, Verb::Exec | Verb::PortForward);
    let response = if upgrade {
        // Each upgrade on a connection of its own, closed afterwards.
        let mut own = Conn::open(Version::HTTP_11).await;
        own.try_send(request).await?
    } else {
        conn.try_send(request).await?
    };
    let code = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // A watch that was answered streams until it times out; only its status matters.
    let streaming = (cell.verb == Verb::Watch && code == 200) || code == 101;
    let body = if streaming {
        String::new()
    } else {
        text(response).await
    };
    Ok(Got {
        code,
        body,
        request_id,
    })
}

/// The apiserver's audit events, by audit id.
fn audit_events() -> Vec<Value> {
    std::fs::read_to_string(harness().env.audit_log())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// The ServiceAccounts that may reach the apiserver without impersonating: the proxy (its
/// namespace index and namespace lists) and capsule-proxy (its filtered lists).
fn own_accounts() -> [String; 2] {
    [
        format!(
            "system:serviceaccount:{}:kubenova-proxy",
            testenv::proxy::NAMESPACE
        ),
        format!(
            "system:serviceaccount:{}:{}",
            testenv::capsule::NAMESPACE,
            testenv::capsule_proxy::SERVICE_ACCOUNT
        ),
    ]
}

/// Whether the audit event shows the request impersonating exactly `identity`.
fn as_identity(event: &Value, identity: &kubenova_api::identity::Identity) -> bool {
    let impersonated = &event["impersonatedUser"];
    let groups: BTreeSet<&str> = impersonated["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // The apiserver adds system:authenticated to an impersonated user who is not anonymous.
    let want: BTreeSet<&str> = identity
        .groups
        .iter()
        .map(String::as_str)
        .chain(["system:authenticated"])
        .collect();
    let got: BTreeSet<&str> = groups
        .into_iter()
        .chain(["system:authenticated"])
        .collect();
    impersonated["username"] == identity.user.as_str() && got == want
}

#[tokio::test]
async fn isolation_matrix() {
    let world = World::set_up();
    // A namespace the owner creates joins the tenant (and its lists across namespaces, where
    // the readers have no binding): those cells go last.
    let (mut cells, last): (Vec<Cell>, Vec<Cell>) = cells()
        .into_iter()
        .partition(|c| !(c.kind == Kind::Namespace && c.verb == Verb::Create));
    cells.extend(last);
    assert!(cells.len() >= 200, "{} cells", cells.len());
    let tokens: Vec<(Who, String, kubenova_api::identity::Identity)> = WHO
        .iter()
        .map(|&who| {
            let c = world.claims(who);
            let identity = kubenova_api::identity::identity(&c).expect("identity");
            (who, harness().proxy.sign(&c).expect("token"), identity)
        })
        .collect();
    let token = |who: Who| {
        tokens
            .iter()
            .find(|(w, _, _)| *w == who)
            .map(|(_, t, i)| (t.clone(), i.clone()))
            .expect("a token per requester")
    };

    let started = Instant::now();
    let mut conn = Conn::open(Version::HTTP_2).await;
    let mut failures = Vec::new();
    let mut sent: Vec<(Cell, Answer, String)> = Vec::new();
    for &cell in &cells {
        let want = expected(cell, MODE);
        let (bearer, _) = token(cell.who);
        let got = match send(&mut conn, cell, world.request(cell, &bearer)).await {
            Ok(got) => got,
            Err(e) => {
                failures.push(format!("{cell}: expected {want:?}, got no response: {e}"));
                // A broken connection would fail every later cell for no reason of theirs.
                conn = Conn::open(Version::HTTP_2).await;
                continue;
            }
        };
        let refused_by_proxy = got.body.contains("KN-");
        let ok = got.code == want.code()
            && match want {
                Answer::Proxy(code) => got.body.contains(&format!("KN-{code}")),
                Answer::As(_) | Answer::Filtered(_) => !refused_by_proxy,
            };
        if !ok {
            let body: String = got.body.chars().take(300).collect();
            failures.push(format!(
                "{cell}: expected {want:?}, got {} {body}",
                got.code
            ));
        }
        assert!(!got.request_id.is_empty(), "{cell}: no x-request-id");
        sent.push((cell, want, got.request_id));
    }
    let elapsed = started.elapsed();

    // The audit log: the apiserver writes it in batches, so wait until the last forwarded cell
    // is there.
    let last_forwarded = sent
        .iter()
        .rev()
        .find(|(_, want, _)| matches!(want, Answer::As(_)))
        .map(|(_, _, id)| id.clone())
        .expect("forwarded cells");
    eventually(
        "the apiserver audits the matrix",
        Duration::from_secs(20),
        || audit_events().iter().any(|e| e["auditID"] == last_forwarded.as_str()),
    );
    let events = audit_events();
    let accounts = own_accounts();
    for (cell, want, id) in &sent {
        let (_, identity) = token(cell.who);
        let mine: Vec<&Value> = events
            .iter()
            .filter(|e| e["auditID"] == id.as_str())
            .collect();
        match want {
            Answer::Proxy(_) if !mine.is_empty() => failures.push(format!(
                "{cell}: refused by the proxy, yet the apiserver saw it: {}",
                mine[0]
            )),
            Answer::As(_) if !mine.iter().any(|e| as_identity(e, &identity)) => failures.push(
                format!("{cell}: no audit event impersonating {identity:?}: {mine:?}"),
            ),
            _ => {}
        }
        for event in mine {
            let by = |account: &str| event["user"]["username"] == account;
            let impersonating = &event["impersonatedUser"]["username"];
            let as_token = (by(&accounts[0]) || by(&accounts[1])) && as_identity(event, &identity);
            // The proxy's own list, directly or through capsule-proxy (which impersonates the
            // proxy's ServiceAccount), or capsule-proxy's own filtered list.
            let itself = (by(&accounts[0]) && impersonating.is_null())
                || (by(&accounts[1]) && impersonating.is_null())
                || (by(&accounts[1]) && *impersonating == accounts[0].as_str());
            let allowed = match want {
                Answer::Filtered(_) => as_token || itself,
                _ => as_token,
            };
            if !allowed {
                failures.push(format!(
                    "{cell}: reached the apiserver as someone else: {event}"
                ));
            }
        }
    }
    // And nothing the requesters sent arrived with other groups than theirs.
    for (who, _, identity) in &tokens {
        for event in events
            .iter()
            .filter(|e| e["impersonatedUser"]["username"] == identity.user.as_str())
        {
            if !as_identity(event, identity) {
                failures.push(format!("{who:?} reached the apiserver with other groups: {event}"));
            }
        }
    }
    world.tear_down();
    eprintln!(
        "isolation matrix ({MODE:?}): {} cells in {elapsed:?}",
        cells.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cells failed ({MODE:?}):\n{}",
        failures.len(),
        cells.len(),
        failures.join("\n")
    );
}

/// Runs `verb` (exec, logs or port-forward) on the matrix's pod in `ns` with the real kubectl:
/// Ok with what it printed, or Err with its stderr.
fn kubectl_cell(kubeconfig: &std::path::Path, ns: &str, verb: Verb) -> Result<String, String> {
    let env = harness().env;
    match verb {
        Verb::Exec => super::harness::kubectl(
            kubeconfig,
            &["-n", ns, "exec", POD, "--", "echo", "matrix"],
        ),
        Verb::Logs => super::harness::kubectl(kubeconfig, &["-n", ns, "logs", POD]),
        Verb::PortForward => {
            let mut pf = Background::start(
                env.kubectl_with(kubeconfig),
                &["-n", ns, "port-forward", &format!("pod/{POD}"), ":80"],
            );
            let line = pf.line_or_exit(|l| l.starts_with("Forwarding from 127.0.0.1:"))?;
            let port: u16 = line
                .trim_start_matches("Forwarding from 127.0.0.1:")
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("a port in {line:?}"));
            let mut conn = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
            conn.set_read_timeout(Some(Duration::from_secs(30)))
                .map_err(|e| e.to_string())?;
            conn.write_all(b"matrix\n").map_err(|e| e.to_string())?;
            let mut answer = String::new();
            BufReader::new(conn)
                .read_line(&mut answer)
                .map_err(|e| format!("{e}: {}", pf.stderr()))?;
            Ok(answer)
        }
        _ => unreachable!("only exec, logs and port-forward"),
    }
}

/// The exec, port-forward and logs cells of the own project and of the other tenant, with the
/// real kubectl (exec over WebSocket, port-forward as kubectl 1.36 chooses): what succeeds in
/// the matrix works, what the apiserver refuses says Forbidden without a KN code, what the
/// proxy refuses says KN-403.
#[test]
fn kubectl_agrees_with_the_matrix_on_exec_port_forward_and_logs() {
    let _port = crate::FORWARD_PORT
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let _echo = super::streams::Echo::start();
    let world = World::set_up();
    let mut failures = Vec::new();
    let mut count = 0;
    for who in WHO {
        let kc = kubeconfig(&world.claims(who));
        for at in [At::OwnProject, At::OtherTenant] {
            let ns = world.namespace(at).expect("namespaced");
            for verb in [Verb::Exec, Verb::PortForward, Verb::Logs] {
                count += 1;
                let cell = Cell {
                    who,
                    at,
                    verb,
                    kind: Kind::Pod,
                };
                let want = expected(cell, MODE);
                let got = kubectl_cell(&kc, &ns, verb);
                let ok = match (want, &got) {
                    (Answer::As(200 | 101), Ok(out)) => match verb {
                        Verb::Exec => out.trim() == "matrix",
                        Verb::PortForward => out == "pong:matrix\n",
                        _ => out.lines().eq(harness().env.kwok.log_lines.iter()),
                    },
                    (Answer::As(403), Err(e)) => {
                        e.to_lowercase().contains("forbidden") && !e.contains("KN-")
                    }
                    (Answer::Proxy(403), Err(e)) => e.contains("KN-403"),
                    _ => false,
                };
                if !ok {
                    failures.push(format!("{cell}: expected {want:?}, got {got:?}"));
                }
            }
        }
    }
    world.tear_down();
    assert!(
        failures.is_empty(),
        "{} of {count} kubectl cells failed ({MODE:?}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
