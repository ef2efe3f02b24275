//! Killing the process that owns an environment (here with SIGKILL, which no handler can
//! catch) leaves no etcd, kube-apiserver or other program of that environment behind.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn alive(pid: i32) -> bool {
    // Signal 0 only checks existence; a zombie has no /proc/<pid>/exe it could run.
    kill(Pid::from_raw(pid), None).is_ok() && Path::new(&format!("/proc/{pid}/exe")).exists()
}

#[test]
fn killing_the_owner_leaves_no_program_behind() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("leftovers-{}", std::process::id()));
    let env_file = dir.join("env");
    let mut owner = Command::new(env!("CARGO_BIN_EXE_kubenova-testenv"))
        .args(["up", "--no-capsule", "--dir"])
        .arg(dir.join("run"))
        .arg("--env-file")
        .arg(&env_file)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("kubenova-testenv started");

    let deadline = Instant::now() + Duration::from_secs(180);
    while !env_file.exists() {
        assert!(
            owner.try_wait().expect("wait").is_none(),
            "kubenova-testenv exited early"
        );
        assert!(
            Instant::now() < deadline,
            "environment not ready after 180s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let pids: Vec<(String, i32)> = std::fs::read_to_string(dir.join("run").join("pids"))
        .expect("pids file")
        .lines()
        .filter_map(|l| {
            let (name, pid) = l.split_once(' ')?;
            Some((name.to_owned(), pid.parse().ok()?))
        })
        .collect();
    let names: Vec<&str> = pids.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        // `up` starts KubeVela and Flux unless told not to.
        "source-controller",
        "helm-controller",
        "vela-core",
    ] {
        assert!(names.contains(&expected), "{expected} not among {names:?}");
    }
    assert!(
        pids.iter().all(|(_, pid)| alive(*pid)),
        "all running before the kill"
    );

    owner.kill().expect("SIGKILL sent");
    owner.wait().expect("owner reaped");

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left: Vec<&(String, i32)> = pids.iter().filter(|(_, pid)| alive(*pid)).collect();
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            for (_, pid) in &left {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
            panic!("still running 15s after the owner was killed: {left:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The reaper also removed the data directory (etcd's files); logs stay for debugging.
    let deadline = Instant::now() + Duration::from_secs(5);
    while dir.join("run").join("data").exists() {
        assert!(Instant::now() < deadline, "data directory not removed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        dir.join("run")
            .join("logs")
            .join("kube-apiserver.log")
            .exists()
    );
}
