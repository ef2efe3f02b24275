//! What needs no server: usage errors, bad URLs, unreachable servers, completions, man pages.

use super::*;

fn user(name: &str) -> (PathBuf, User) {
    let dir = scratch(name);
    let u = User::new(&dir, "u", &std::env::var("PATH").unwrap_or_default());
    (dir, u)
}

#[test]
fn unknown_flags_and_missing_arguments_are_usage_errors() {
    let (_dir, u) = user("usage");
    let ran = u.kn(&["tenant", "list", "--bogus"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("unexpected argument '--bogus'"),
        "{ran:?}"
    );
    let ran = u.kn(&["app", "create", "web", "--tag", "1"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains("the following required arguments were not provided:\n  --image <IMAGE>"),
        "{ran:?}"
    );
    let ran = u.kn(&["tenant", "list", "-o", "xml"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    // No context yet: a usage error saying how to log in.
    let ran = u.kn(&["whoami"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("kubenova login --server URL"),
        "{ran:?}"
    );
}

#[test]
fn a_bad_server_url_or_an_unreachable_server_writes_nothing() {
    let (_dir, u) = user("badurl");
    let ran = u.kn(&["login", "--server", "not a url", "--token", "x"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .starts_with("error: the server URL \"not a url\" is not a URL"),
        "{ran:?}"
    );
    let ran = u.kn(&["login", "--server", "ftp://example.com", "--token", "x"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    // Nothing listens on port 1.
    let ran = u.kn(&["login", "--server", "http://127.0.0.1:1", "--token", "x"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr
            .starts_with("error: cannot connect to http://127.0.0.1:1"),
        "{ran:?}"
    );
    assert!(ran.stderr.contains("hint: check the server URL"), "{ran:?}");
    let ran = u.kn(&["login", "--server", "http://127.0.0.1:1"]);
    assert_eq!(ran.code, 2, "no token and no terminal: {ran:?}");
    assert!(
        !u.config().exists(),
        "a failed login wrote {}",
        u.config().display()
    );
    // --server and --token without a config reach the server directly.
    let ran = u.kn(&[
        "--server",
        "http://127.0.0.1:1",
        "--token",
        "x",
        "tenant",
        "list",
    ]);
    assert_eq!(ran.code, 1, "{ran:?}");
}

#[test]
fn completions_and_man_pages() {
    let (dir, u) = user("completion");
    for (shell, needle) in [
        ("bash", "_kubenova()"),
        ("zsh", "#compdef kubenova"),
        ("fish", "complete -c kubenova"),
    ] {
        let out = u.ok(&["completion", shell]);
        assert!(out.contains(needle), "{shell}: {out}");
        assert!(out.contains("set-image"), "{shell} completes subcommands");
    }
    let man = dir.join("man");
    let out = u.ok(&["man", "--dir", man.to_str().expect("utf-8")]);
    assert!(out.starts_with("Wrote "), "{out}");
    let page = std::fs::read_to_string(man.join("kubenova-app-create.1")).expect("app create page");
    assert!(page.contains(".TH kubenova-app-create"), "{page}");
    assert!(man.join("kubenova.1").exists());
}
