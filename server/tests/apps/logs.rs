//! `GET .../apps/{a}/logs`: the pods' logs through the API, from kwok's fake kubelet (every fake
//! container's log is one file, `Kwok::log_file`; a line appended there shows up in the logs).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpStream;

use super::*;

fn text(base: &str, query: &str) -> HttpResponse {
    call("GET", &format!("{base}/web/logs{query}"), None)
}

#[test]
fn logs_honour_tail_component_and_follow() {
    let (t, p, _ns, _dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    let body = json!({ "name": "web", "image": { "image": "nginx", "tag": "1.27", "replicas": 2,
                                                "ports": [{ "port": 80 }] } });
    expect(&call("POST", &base, Some(&body)), 201);
    let pods: Vec<String> = eventually("web running with two pods", SETTLE, || {
        let v = call("GET", &format!("{base}/web/status"), None).json();
        let pods: Vec<String> = v["pods"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["phase"] == "Running")
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect();
        (v["phase"] == "running" && pods.len() == 2).then_some(pods)
    });
    let kwok = &harness().env.kwok;
    let mut marker = unique_name("marker");
    kwok.append_log_line(&marker).expect("log line appended");

    // tail=1: the last line of each pod's log, prefixed with the pod.
    let response = text(&base, "?tail=1");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let mut lines: Vec<String> = response.text().lines().map(str::to_owned).collect();
    lines.sort();
    let mut want: Vec<String> = pods.iter().map(|p| format!("[{p}] {marker}")).collect();
    want.sort();
    assert_eq!(lines, want);

    // The default tail holds the whole (short) log of every pod; `component` narrows to the
    // app's component, which is all of it.
    for query in ["", "?component=web"] {
        let all = text(&base, query);
        assert_eq!(all.status, 200, "{}", all.text());
        let all = all.text();
        for pod in &pods {
            for line in kwok.log_lines.iter().chain([&marker]) {
                assert!(all.contains(&format!("[{pod}] {line}\n")), "{query}: {all}");
            }
        }
        assert_eq!(all.lines().count(), pods.len() * (kwok.log_lines.len() + 1));
    }
    let tail0 = text(&base, "?tail=0");
    assert_eq!(tail0.status, 200, "{}", tail0.text());
    assert_eq!(tail0.text(), "");

    // Bad queries say what to fix; a component without pods is a 404.
    for (query, field) in [
        ("?tail=-1", "tail"),
        ("?tail=10001", "tail"),
        ("?component=Not_A_Name", "component"),
    ] {
        let r = text(&base, query);
        assert_eq!(r.status, 422, "{query}: {}", r.text());
        assert_eq!(r.json()["code"], "KN-422");
        assert!(r.text().contains(field), "{query}: {}", r.text());
    }
    let none = text(&base, "?component=other");
    assert_eq!(none.status, 404, "{}", none.text());

    // follow=true streams: a line written after the request started arrives on it.
    let h = harness();
    let mut stream = TcpStream::connect(("127.0.0.1", h.control.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        stream,
        "GET {base}/web/logs?follow=true&tail=1 HTTP/1.0\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {}\r\n\r\n",
        h.control.admin_token
    )
    .expect("request sent");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    assert!(line.contains(" 200 "), "{line}");
    loop {
        line.clear();
        reader.read_line(&mut line).expect("head");
        if line == "\r\n" {
            break;
        }
    }
    // First the last line of each pod, then what is appended while the stream is open.
    let mut seen = Vec::new();
    for _ in 0..pods.len() {
        line.clear();
        reader.read_line(&mut line).expect("a line");
        seen.push(line.trim_end().to_owned());
    }
    assert!(
        seen.iter().all(|l| l.ends_with(&format!("] {marker}"))),
        "{seen:?}"
    );
    marker = unique_name("followed");
    let started = Instant::now();
    kwok.append_log_line(&marker).expect("log line appended");
    let mut arrived = Vec::new();
    while arrived.len() < pods.len() {
        line.clear();
        let n = reader.read_line(&mut line).expect("the stream stays open");
        assert!(n > 0, "the stream ended; got {arrived:?}");
        if line.trim_end().ends_with(&format!("] {marker}")) {
            arrived.push(line.trim_end().to_owned());
        }
    }
    arrived.sort();
    let mut want: Vec<String> = pods.iter().map(|p| format!("[{p}] {marker}")).collect();
    want.sort();
    assert_eq!(arrived, want);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}
