//! Issue 12, item 16: kwok runs what a tenant `kubectl exec`s into a fake pod as a process of
//! the machine running the environment (the developer's, in `make dev`). That process must not
//! be root, must not read the environment's admin kubeconfig or keys, and must not write outside
//! its throwaway directory (testenv's `kwok` module says how it is confined).

use kubenova_api::Role;
use testenv::unique_name;

use super::harness::{claims, harness, kubeconfig, kubectl, running_pod, tenant_with_projects};

#[test]
fn a_tenants_exec_is_not_root_reads_no_keys_and_writes_only_its_directory() {
    let t = unique_name("confined");
    tenant_with_projects(&t, &["web"]);
    let ns = format!("{t}-web");
    let dev = kubeconfig(&claims("ines", &[Role::ProjectDev], Some(&t), Some("web")));
    running_pod(&dev, &ns, "box");
    let exec = |args: &[&str]| {
        let mut all = vec!["-n", ns.as_str(), "exec", "box", "--"];
        all.extend_from_slice(args);
        kubectl(&dev, &all)
    };
    let env = harness().env;

    // Not root, and not in root's group either.
    let uid = exec(&["id", "-u"]).expect("id -u");
    assert_ne!(uid.trim(), "0", "the exec runs as root");
    assert_eq!(uid.trim(), testenv::kwok::EXEC_UID.to_string());
    let groups = exec(&["id", "-G"]).expect("id -G");
    assert!(
        !groups.split_whitespace().any(|g| g == "0"),
        "no root group: {groups}"
    );

    // The environment's admin kubeconfig and keys exist (root reads them)...
    let admin = env.dir().join("admin.kubeconfig");
    assert!(admin.exists(), "{}", admin.display());
    let pki = env.dir().join("pki");
    let key = std::fs::read_dir(&pki)
        .expect("pki")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".key") || p.to_string_lossy().ends_with("key.pem"))
        .expect("a key in the run directory's pki");
    // ...but the exec reads none of them, nor lists the run directory.
    for path in [&admin, &key, &pki, &env.dir().to_path_buf()] {
        let p = path.display().to_string();
        let out = exec(&["cat", &p]).expect_err(&format!("the exec must not read {p}"));
        assert!(
            out.contains("Permission denied"),
            "the exec must not read {p}: {out}"
        );
        let listed = exec(&["ls", &p]);
        assert!(listed.is_err(), "the exec must not list {p}: {listed:?}");
    }

    // Its working directory is its own throwaway directory, where it may write...
    let pwd = exec(&["pwd"]).expect("pwd");
    assert_eq!(pwd.trim(), env.kwok.exec_dir.display().to_string());
    exec(&["touch", "inside.txt"]).expect("write in its own directory");
    assert!(env.kwok.exec_dir.join("inside.txt").exists());
    // ...and nowhere else: not the world-writable /tmp or /dev/shm, not the workspace, not the
    // directory beside the run directory.
    let outside = [
        std::path::PathBuf::from("/tmp"),
        std::path::PathBuf::from("/var/tmp"),
        std::path::PathBuf::from("/dev/shm"),
        std::env::temp_dir(),
        env.dir().parent().expect("runs directory").to_path_buf(),
    ];
    for dir in outside {
        let file = dir.join(format!("{t}-escaped"));
        let p = file.display().to_string();
        let out = exec(&["touch", &p]);
        assert!(out.is_err(), "the exec wrote {p}");
        assert!(!file.exists(), "{p} exists");
    }
}
