//! Builds the web UI (`ui/`, TypeScript + Vite) into `OUT_DIR` and writes the table of its files
//! that `src/ui.rs` embeds (ADR 0022). Needs node >= 20.19 and npm; fails loudly without them.
//! `npm ci --prefer-offline` runs only when `ui/package-lock.json` changed since the last install;
//! the client types are generated from `docs/openapi/openapi.yaml` by `npm run build` each time.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("workspace root").to_path_buf();
    let ui = root.join("ui");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let dist = out.join("ui-dist");

    for input in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed={}", ui.join(input).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("docs/openapi/openapi.yaml").display()
    );

    // `make generate` builds the binary that writes docs/openapi/openapi.yaml without the UI: the
    // UI's client is generated from that document, so a change to the API and the UI that uses it
    // could otherwise never be built (the UI would be checked against the old document).
    println!("cargo:rerun-if-env-changed=KUBENOVA_UI_SKIP");
    if std::env::var_os("KUBENOVA_UI_SKIP").is_some_and(|v| v == "1") {
        println!("cargo:warning=KUBENOVA_UI_SKIP=1: kubenova-control is built without the web UI");
        std::fs::write(
            out.join("ui_files.rs"),
            "/// Built with KUBENOVA_UI_SKIP=1: no UI.\npub(super) static FILES: &[(&str, &[u8])] = &[];\n",
        )
        .unwrap_or_else(|e| fail(&format!("writing ui_files.rs: {e}")));
        return;
    }
    check_node();
    let lock = std::fs::read(ui.join("package-lock.json"))
        .unwrap_or_else(|e| fail(&format!("reading ui/package-lock.json: {e}")));
    let stamp = ui.join("node_modules/.kubenova-lock.json");
    if std::fs::read(&stamp).ok().as_deref() != Some(lock.as_slice()) {
        run(
            Command::new("npm")
                .args([
                    "ci",
                    "--prefer-offline",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                ])
                .current_dir(&ui),
            "npm ci (in ui/)",
        );
        std::fs::write(&stamp, &lock)
            .unwrap_or_else(|e| fail(&format!("writing {}: {e}", stamp.display())));
    }
    run(
        Command::new("npm")
            .args(["run", "--silent", "build"])
            .env("KUBENOVA_UI_OUT", &dist)
            .current_dir(&ui),
        "npm run build (in ui/)",
    );

    let mut files = Vec::new();
    collect(&dist, &dist, &mut files);
    files.sort();
    if !files.iter().any(|(name, _)| name == "index.html") {
        fail("the UI build wrote no index.html");
    }
    let mut table = String::from(
        "/// The UI's files: path below `/`, contents.\npub(super) static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &files {
        writeln!(
            table,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .expect("write to String");
    }
    table.push_str("];\n");
    std::fs::write(out.join("ui_files.rs"), table)
        .unwrap_or_else(|e| fail(&format!("writing ui_files.rs: {e}")));
}

fn collect(base: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| fail(&format!("reading {}: {e}", dir.display())));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(base, &path, files);
        } else {
            let name = path
                .strip_prefix(base)
                .expect("below the build directory")
                .to_string_lossy()
                .replace('\\', "/");
            files.push((name, path));
        }
    }
}

fn check_node() {
    let version = Command::new("node")
        .args(["-p", "process.versions.node"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(version) = version else {
        fail(
            "node is not installed: kubenova-control embeds the web UI, built from ui/ with node >= 20.19 and npm (Debian: apt-get install nodejs npm)",
        );
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < (20, 19) {
        fail(&format!(
            "node {version} is too old: the web UI (ui/, Vite 8) needs node >= 20.19"
        ));
    }
}

fn run(cmd: &mut Command, what: &str) {
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("{what} failed ({s}); see its output above")),
        Err(e) => fail(&format!(
            "{what} could not start ({e}): the web UI needs node >= 20.19 and npm (Debian: apt-get install nodejs npm)"
        )),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: building the web UI: {message}");
    panic!("building the web UI: {message}");
}
