//! capsule-proxy binds its health probe to `:8081` whatever its flags say. Two environments
//! with capsule-proxy on one machine (one network namespace) take turns instead of failing: the
//! second waits on Capsule's machine lock, which the first holds for its Capsule and its
//! capsule-proxy, and starts once the first has stopped. Its own test binary, because an
//! environment shared by other tests would hold the lock until the binary ends.

use std::time::{Duration, Instant};

use testenv::capsule_proxy::HEALTH_PORT;
use testenv::{Options, TestEnv, wait};

fn options(label: &str) -> Options {
    Options {
        label: label.into(),
        capsule_proxy: true,
        ..Options::default()
    }
}

#[tokio::test]
async fn two_environments_with_capsule_proxy_take_turns_and_both_serve() {
    let first = TestEnv::start(options("cp-first"))
        .await
        .expect("the first environment starts");
    assert!(first.capsule_proxy.is_some());
    assert_eq!(
        wait::http_status(HEALTH_PORT, "/healthz"),
        Ok(200),
        "the first environment's capsule-proxy answers on its fixed health port"
    );

    let second = std::thread::spawn(|| testenv::block_on(TestEnv::start(options("cp-second"))));
    // The second environment's etcd, apiserver and kwok start; then it queues for Capsule.
    let queued = Instant::now();
    while queued.elapsed() < Duration::from_secs(20) {
        assert!(
            !second.is_finished(),
            "the second environment must wait while the first holds Capsule and capsule-proxy"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    first.shutdown(Duration::from_secs(5));
    let second = second
        .join()
        .expect("the starting thread")
        .expect("the second environment starts once the first has stopped");
    let capsule_proxy = second.capsule_proxy.as_ref().expect("its capsule-proxy");
    assert_eq!(wait::http_status(HEALTH_PORT, "/healthz"), Ok(200));
    assert!(
        wait::port_open(
            capsule_proxy
                .url
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port")
        ),
        "its capsule-proxy serves"
    );
    second.shutdown(Duration::from_secs(5));
}
