//! Long-lived and upgraded connections through the proxy: watches (one namespace and merged
//! across a tenant's namespaces, HTTP/2 and HTTP/1.1, streaming lists), `logs -f`,
//! `port-forward` and `cp` over WebSocket and SPDY, and an upgrade the apiserver refuses.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http::{Request, StatusCode, Version};
use http_body_util::BodyExt;
use kubenova_api::Role;
use serde_json::Value;
use testenv::unique_name;

use super::harness::{
    Background, accesses, claims, harness, kubeconfig, kubectl, running_pod, scratch_file,
    tenant_with_projects,
};
use super::http::{Body, Conn, get, text};

fn admin_configmap(ns: &str, name: &str) {
    harness()
        .env
        .kubectl_run(&["-n", ns, "create", "configmap", name], None)
        .expect("configmap");
}

/// Waits until the proxy has answered (with 200) one more watch of `path` for `tenant` than
/// `before`: the watch is open upstream, so what happens next is streamed, not listed.
fn watch_opened(tenant: &str, path: &str, before: usize) {
    let count =
        || accesses(|a| a.tenant == tenant && a.verb == "watch" && a.path == path && a.code == 200);
    super::harness::eventually("the watch is open", Duration::from_secs(30), || {
        count() > before
    });
}

#[test]
fn get_watch_streams_new_objects_over_http2_and_http11() {
    let t = unique_name("watch");
    tenant_with_projects(&t, &["web"]);
    let ns = format!("{t}-web");
    let dev = kubeconfig(&claims("kate", &[Role::ProjectDev], Some(&t), Some("web")));
    let path = format!("/api/v1/namespaces/{ns}/configmaps");
    // client-go speaks HTTP/2 unless DISABLE_HTTP2 is set (and then says so on stderr).
    for (round, http1) in [false, true].into_iter().enumerate() {
        let before =
            accesses(|a| a.tenant == t && a.verb == "watch" && a.path == path && a.code == 200);
        let mut cmd = harness().env.kubectl_with(&dev);
        if http1 {
            cmd.env("DISABLE_HTTP2", "1");
        } else {
            cmd.env_remove("DISABLE_HTTP2");
        }
        let mut watch = Background::start(cmd, &["-n", &ns, "get", "configmaps", "-w"]);
        watch_opened(&t, &path, before);
        let name = format!("w{round}-{}", unique_name("cm"));
        admin_configmap(&ns, &name);
        let line = watch.line("the new ConfigMap", |l| l.starts_with(&name));
        assert!(line.split_whitespace().nth(1) == Some("0"), "{line}");
        assert!(watch.running(), "kubectl keeps watching");
        assert_eq!(
            watch
                .stderr()
                .contains("HTTP2 has been explicitly disabled"),
            http1,
            "{}",
            watch.stderr()
        );
    }
}

#[test]
fn a_watch_across_a_tenants_namespaces_merges_their_events() {
    let t = unique_name("mw");
    let other = unique_name("mwo");
    tenant_with_projects(&t, &["a", "b"]);
    tenant_with_projects(&other, &["a"]);
    let owner = kubeconfig(&claims("liam", &[Role::TenantOwner], Some(&t), None));
    let before = accesses(|a| {
        a.tenant == t && a.verb == "watch" && a.path == "/api/v1/configmaps" && a.code == 200
    });
    let mut watch = Background::start(
        harness().env.kubectl_with(&owner),
        &["get", "configmaps", "-A", "-w"],
    );
    watch_opened(&t, "/api/v1/configmaps", before);
    let (a, b, o) = (format!("{t}-a"), format!("{t}-b"), format!("{other}-a"));
    admin_configmap(&o, "stranger");
    admin_configmap(&a, "in-a");
    admin_configmap(&b, "in-b");
    for (ns, name) in [(&a, "in-a"), (&b, "in-b")] {
        let line = watch.line("an event from each namespace", |l| {
            let mut cols = l.split_whitespace();
            cols.next() == Some(ns) && cols.next() == Some(name)
        });
        assert!(!line.is_empty());
    }
    // One more event after the other tenant's: it was never part of this stream.
    admin_configmap(&a, "last");
    watch.line("the last event", |l| l.contains("last"));
    assert!(
        !watch.seen().iter().any(|l| l.contains(&other)),
        "{:?}",
        watch.seen()
    );
    assert!(watch.running(), "kubectl keeps watching");
}

/// Reads watch events (one JSON object per line) from `body` until `done` says stop.
async fn events_until(
    body: &mut hyper::body::Incoming,
    buffer: &mut Vec<u8>,
    events: &mut Vec<Value>,
    done: impl Fn(&[Value]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(events) {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no more events within 30s; got {events:#?}"))
            .expect("the stream stays open")
            .expect("frame");
        if let Ok(data) = frame.into_data() {
            buffer.extend_from_slice(&data);
        }
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            events.push(serde_json::from_slice(&line).expect("one JSON event per line"));
        }
    }
}

fn is_initial_events_end(event: &Value) -> bool {
    event["type"] == "BOOKMARK"
        && event["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true"
}

#[tokio::test]
async fn a_streaming_list_across_namespaces_ends_its_initial_events_once() {
    let t = unique_name("sl");
    let other = unique_name("slo");
    tenant_with_projects(&t, &["a", "b"]);
    tenant_with_projects(&other, &["a"]);
    let (a, b) = (format!("{t}-a"), format!("{t}-b"));
    for ns in [&a, &b, &format!("{other}-a")] {
        admin_configmap(ns, "marker");
    }
    let token = harness()
        .proxy
        .sign(&claims("mia", &[Role::TenantOwner], Some(&t), None))
        .expect("token");
    let path = "/api/v1/configmaps?watch=true&sendInitialEvents=true\
                &resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true\
                &fieldSelector=metadata.name%3Dmarker";
    for version in [Version::HTTP_2, Version::HTTP_11] {
        let mut conn = Conn::open(version).await;
        let response = conn.send(get(path, &token)).await;
        assert_eq!(response.version(), version);
        assert_eq!(response.status(), StatusCode::OK, "{version:?}");
        assert!(response.headers().contains_key("audit-id"));
        let mut body = response.into_body();
        let (mut buffer, mut events) = (Vec::new(), Vec::new());
        events_until(&mut body, &mut buffer, &mut events, |e| {
            e.iter().any(is_initial_events_end)
        })
        .await;
        let namespaces: Vec<&str> = events
            .iter()
            .filter(|e| e["type"] == "ADDED")
            .filter_map(|e| e["object"]["metadata"]["namespace"].as_str())
            .collect();
        assert_eq!(namespaces.len(), 2, "{version:?}: {events:#?}");
        assert!(
            namespaces.contains(&a.as_str()) && namespaces.contains(&b.as_str()),
            "{namespaces:?}"
        );
        assert!(
            is_initial_events_end(events.last().expect("events")),
            "the end of the initial events comes after every namespace's initial events: \
             {events:#?}"
        );
        // Then the stream goes on: a new object in either namespace arrives.
        let late = unique_name("late");
        harness()
            .env
            .kubectl_run(
                &[
                    "-n",
                    &b,
                    "label",
                    "configmap",
                    "marker",
                    &format!("late={late}"),
                ],
                None,
            )
            .expect("label");
        events_until(&mut body, &mut buffer, &mut events, |e| {
            e.iter().any(|e| {
                e["type"] == "MODIFIED"
                    && e["object"]["metadata"]["labels"]["late"] == late.as_str()
            })
        })
        .await;
        assert_eq!(
            events.iter().filter(|e| is_initial_events_end(e)).count(),
            1,
            "{events:#?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| e["object"]["metadata"]["namespace"] == format!("{other}-a")),
            "{events:#?}"
        );
        harness()
            .env
            .kubectl_run(&["-n", &b, "label", "configmap", "marker", "late-"], None)
            .expect("unlabel");
    }
}

#[test]
fn logs_follow_streams_the_container_log() {
    let t = unique_name("logs");
    tenant_with_projects(&t, &["web"]);
    let ns = format!("{t}-web");
    let dev = kubeconfig(&claims("noah", &[Role::ProjectDev], Some(&t), Some("web")));
    running_pod(&dev, &ns, "app");
    let mut logs = Background::start(
        harness().env.kubectl_with(&dev),
        &["-n", &ns, "logs", "-f", "pod/app"],
    );
    let expected = &harness().env.kwok.log_lines;
    let last = expected.last().expect("log lines").clone();
    logs.line("the log's last line", |l| l == last);
    assert_eq!(logs.seen(), expected.as_slice());
    assert!(logs.running(), "kubectl keeps following: {}", logs.stderr());
}


/// Answers `pong:<line>` to each line on kwok's port-forward target until dropped.
pub(crate) struct Echo {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    pub(crate) fn start() -> Echo {
        let port = harness().env.kwok.forward_port;
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("the forward port is free");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        std::thread::spawn(move || echo(stream));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Echo {
            stop,
            thread: Some(thread),
        }
    }
}

fn echo(stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        if writer
            .write_all(format!("pong:{line}\n").as_bytes())
            .is_err()
        {
            return;
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn port_forward(websocket: bool) {
    let _port = crate::FORWARD_PORT.lock().unwrap_or_else(|p| p.into_inner());
    let t = unique_name(if websocket { "pfw" } else { "pfs" });
    tenant_with_projects(&t, &["web"]);
    let ns = format!("{t}-web");
    let dev = kubeconfig(&claims("olga", &[Role::ProjectDev], Some(&t), Some("web")));
    running_pod(&dev, &ns, "fwd");
    let _echo = Echo::start();
    let mut cmd = harness().env.kubectl_with(&dev);
    cmd.env(
        "KUBECTL_PORT_FORWARD_WEBSOCKETS",
        if websocket { "true" } else { "false" },
    );
    let mut pf = Background::start(cmd, &["-n", &ns, "port-forward", "pod/fwd", ":80"]);
    let line = pf.line("kubectl listens", |l| {
        l.starts_with("Forwarding from 127.0.0.1:")
    });
    let port: u16 = line
        .trim_start_matches("Forwarding from 127.0.0.1:")
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a port in {line:?}"));
    // Two connections: two streams over the one upgraded connection.
    for i in 0..2 {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        conn.write_all(format!("ping {i}\n").as_bytes())
            .expect("write");
        let mut answer = String::new();
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        reader.read_line(&mut answer).expect("answer");
        assert_eq!(answer, format!("pong:ping {i}\n"));
    }
    assert!(pf.running(), "{}", pf.stderr());
    // The protocol kubectl used: WebSocket is a GET, SPDY a POST, each switched (101).
    let path = format!("/api/v1/namespaces/{ns}/pods/fwd/portforward");
    let (want, not) = if websocket {
        ("GET", "POST")
    } else {
        ("POST", "GET")
    };
    assert_eq!(
        accesses(|a| a.path == path && a.method == want && a.code == 101),
        1
    );
    assert_eq!(accesses(|a| a.path == path && a.method == not), 0);
}

#[test]
fn port_forward_over_websocket() {
    port_forward(true);
}

#[test]
fn port_forward_over_spdy() {
    port_forward(false);
}

/// `kubectl cp` out of a pod, and a pod's stdin, over WebSocket and SPDY.
///
/// kwok runs what is exec'd in a fake pod on this machine, so the pod's filesystem is the
/// host's, as kwok's confined exec user sees it (testenv's `kwok` module). `kubectl cp` *into* a pod cannot finish with kwok v0.8.0: it execs `tar -xmf -`
/// and ends stdin, but kwok copies the stream into the command's stdin pipe and never closes
/// it (`pkg/utils/exec/exec.go`), so `tar` waits for EOF forever (the same without the proxy).
/// The upload direction is shown instead with a command that stops after N bytes of stdin.
#[test]
fn cp_out_of_a_pod_and_stdin_into_it_over_websocket_and_spdy() {
    let t = unique_name("cp");
    tenant_with_projects(&t, &["web"]);
    let ns = format!("{t}-web");
    let dev = kubeconfig(&claims("pia", &[Role::ProjectDev], Some(&t), Some("web")));
    running_pod(&dev, &ns, "box");
    // The fake pods' filesystem is kwok's exec directory (the one place an exec may write;
    // nothing else of this machine's private directories is readable there).
    let dir = harness().env.kwok.exec_dir.join(unique_name("kubenova-cp"));
    std::fs::create_dir_all(&dir).expect("dir");
    let in_pod = dir.join("in-pod.txt");
    let content = format!("copied through kubenova-proxy by {t}\n");
    std::fs::write(&in_pod, &content).expect("the pod's file");
    for websocket in [true, false] {
        let kubectl_as_dev = || {
            let mut cmd = harness().env.kubectl_with(&dev);
            cmd.env(
                "KUBECTL_REMOTE_COMMAND_WEBSOCKETS",
                if websocket { "true" } else { "false" },
            );
            cmd
        };
        let back = scratch_file(&format!("{t}-{websocket}.back"), "");
        testenv::env::run(
            kubectl_as_dev(),
            &[
                "-n",
                &ns,
                "cp",
                &format!("box:{}", in_pod.display()),
                &back.display().to_string(),
            ],
            None,
        )
        .expect("cp out of the pod");
        assert_eq!(std::fs::read_to_string(&back).expect("copied"), content);

        let input = format!("stdin over websocket={websocket}\n");
        let out = testenv::env::run(
            kubectl_as_dev(),
            &[
                "-n",
                &ns,
                "exec",
                "-i",
                "box",
                "--",
                "head",
                "-c",
                &input.len().to_string(),
            ],
            Some(&input),
        )
        .expect("exec -i");
        assert_eq!(out, input);
    }
    let _ = std::fs::remove_dir_all(&dir);
    // Each protocol was used for one cp and one exec: WebSocket is a GET, SPDY a POST.
    let exec = format!("/api/v1/namespaces/{ns}/pods/box/exec");
    for method in ["GET", "POST"] {
        assert_eq!(
            accesses(|a| a.path == exec && a.method == method && a.code == 101),
            2,
            "{method}"
        );
    }
}

#[tokio::test]
async fn a_refused_upgrade_returns_the_apiservers_404_and_the_connection_goes_on() {
    let t = unique_name("up");
    tenant_with_projects(&t, &["web"]);
    let ns = format!("{t}-web");
    let c = claims("quinn", &[Role::ProjectDev], Some(&t), Some("web"));
    let token = harness().proxy.sign(&c).expect("token");
    let exec = format!("/api/v1/namespaces/{ns}/pods/nope/exec?command=true&stdout=true");
    let websocket = Request::get(&exec)
        .header("authorization", format!("Bearer {token}"))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "v5.channel.k8s.io")
        .body(Body::default())
        .expect("request");
    let spdy = Request::post(&exec)
        .header("authorization", format!("Bearer {token}"))
        .header("connection", "Upgrade")
        .header("upgrade", "SPDY/3.1")
        .header("x-stream-protocol-version", "v4.channel.k8s.io")
        .body(Body::default())
        .expect("request");
    let mut conn = Conn::open(Version::HTTP_11).await;
    for request in [websocket, spdy] {
        let response = conn.send(request).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body: Value = serde_json::from_str(&text(response).await).expect("a Status");
        assert_eq!(body["reason"], "NotFound", "{body}");
        assert_eq!(body["message"], r#"pods "nope" not found"#, "{body}");
        // The same client connection serves the next request.
        let response = conn
            .send(get(&format!("/api/v1/namespaces/{ns}/pods"), &token))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let list: Value = serde_json::from_str(&text(response).await).expect("a list");
        assert_eq!(list["kind"], "PodList");
    }
    // And upgrades still work afterwards.
    let dev = kubeconfig(&c);
    running_pod(&dev, &ns, "real");
    let out = kubectl(&dev, &["-n", &ns, "exec", "real", "--", "echo", "after"]).expect("exec");
    assert_eq!(out.trim(), "after");
}

#[tokio::test]
async fn clients_that_prefer_protobuf_get_merged_json_across_namespaces() {
    let t = unique_name("pb");
    tenant_with_projects(&t, &["a", "b"]);
    let (a, b) = (format!("{t}-a"), format!("{t}-b"));
    for ns in [&a, &b] {
        admin_configmap(ns, "marker");
    }
    let token = harness()
        .proxy
        .sign(&claims("rosa", &[Role::TenantOwner], Some(&t), None))
        .expect("token");
    // What client-go sends with `ContentType: protobuf` alone, and with JSON as a fallback
    // (controllers, most operators).
    for accept in [
        "application/vnd.kubernetes.protobuf, */*",
        "application/vnd.kubernetes.protobuf,application/json",
    ] {
        let mut conn = Conn::open(Version::HTTP_2).await;
        let mut list = get(
            "/api/v1/configmaps?fieldSelector=metadata.name%3Dmarker",
            &token,
        );
        list.headers_mut()
            .insert("accept", accept.parse().expect("accept"));
        let response = conn.send(list).await;
        let status = response.status();
        let content_type = response.headers().get("content-type").cloned();
        let body = text(response).await;
        assert_eq!(status, StatusCode::OK, "{accept}: {body}");
        assert_eq!(
            content_type.as_ref().and_then(|c| c.to_str().ok()),
            Some("application/json"),
            "{accept}"
        );
        let list: Value = serde_json::from_str(&body).expect("a JSON list");
        let mut namespaces: Vec<&str> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["metadata"]["namespace"].as_str())
            .collect();
        namespaces.sort_unstable();
        assert_eq!(namespaces, vec![a.as_str(), b.as_str()], "{accept}");

        let rv = list["metadata"]["resourceVersion"].as_str().expect("rv");
        let mut watch = get(
            &format!(
                "/api/v1/configmaps?watch=true&resourceVersion={rv}\
                 &fieldSelector=metadata.name%3Dmarker"
            ),
            &token,
        );
        watch
            .headers_mut()
            .insert("accept", accept.parse().expect("accept"));
        let response = conn.send(watch).await;
        assert_eq!(response.status(), StatusCode::OK, "{accept}");
        let mut body = response.into_body();
        let label = unique_name("v");
        for ns in [&a, &b] {
            harness()
                .env
                .kubectl_run(
                    &[
                        "-n",
                        ns,
                        "label",
                        "--overwrite",
                        "configmap",
                        "marker",
                        &format!("v={label}"),
                    ],
                    None,
                )
                .expect("label");
        }
        let (mut buffer, mut events) = (Vec::new(), Vec::new());
        events_until(&mut body, &mut buffer, &mut events, |e| {
            e.iter()
                .filter(|e| e["object"]["metadata"]["labels"]["v"] == label.as_str())
                .count()
                == 2
        })
        .await;
    }
}
