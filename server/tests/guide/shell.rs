//! The block runner: one bash, fed a guide's commands one at a time, and the judge of what each
//! printed. Shared by the guides (`server/tests/guide`) and the install page
//! (`server/tests/install`, which includes this file and `script.rs` by path).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::script::{self, Step};

/// The longest one command may take (a chart app coming up on a loaded machine).
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

/// One bash, fed one command at a time; each command's stdout, stderr and exit code land in
/// files the runner reads once the exit code is there.
pub(crate) struct Shell {
    child: Child,
    stdin: ChildStdin,
    out: PathBuf,
    n: usize,
}

pub(crate) struct Ran {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Shell {
    /// One bash in `dir` (its outputs under `dir/<outputs>`), run by `wrapper` when it is not
    /// empty (a command and its arguments that ends by running the rest of its arguments, e.g.
    /// one entering a mount namespace), with `env` set (e.g. `HOME`, `PATH`) and none of the
    /// caller's kubectl or kubenova settings.
    pub(crate) fn start(
        dir: &Path,
        outputs: &str,
        wrapper: &[&str],
        env: &[(&str, String)],
    ) -> Shell {
        let out = dir.join(outputs);
        std::fs::create_dir_all(&out).expect("output dir");
        let bash = ["bash", "--noprofile", "--norc", "-s"];
        let mut argv = wrapper.iter().chain(&bash);
        let mut child = Command::new(argv.next().expect("a program"))
            .args(argv)
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("KUBECONFIG")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("KUBENOVA_CONFIG")
            .env_remove("KUBENOVA_CONTEXT")
            .env_remove("KUBENOVA_SERVER")
            .env_remove("KUBENOVA_TOKEN")
            .env_remove("KUBENOVA_CLUSTER")
            .env_remove("KUBENOVA_TENANT")
            .env_remove("KUBENOVA_PROJECT")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(out.join("shell.err")).expect("shell log"))
            .spawn()
            .expect("bash");
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(
            stdin,
            "set -o pipefail\ncurl() {{ command curl --fail-with-body \"$@\"; }}"
        )
        .expect("bash");
        Shell {
            child,
            stdin,
            out,
            n: 0,
        }
    }

    pub(crate) fn run(&mut self, command: &str) -> Result<Ran, String> {
        self.n += 1;
        let base = self.out.join(self.n.to_string());
        let (out, err, code) = (
            base.with_extension("out"),
            base.with_extension("err"),
            base.with_extension("code"),
        );
        // The command in braces runs in this shell (so `.` and variables carry on); the closing
        // brace on a line of its own ends here-documents too.
        write!(
            self.stdin,
            "{{\n{command}\n}} >'{}' 2>'{}' </dev/null\necho $? >'{}.tmp' && mv '{}.tmp' '{}'\n",
            out.display(),
            err.display(),
            code.display(),
            code.display(),
            code.display()
        )
        .and_then(|()| self.stdin.flush())
        .map_err(|e| format!("the shell stopped: {e}"))?;
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&code) {
                return Ok(Ran {
                    code: text.trim().parse().unwrap_or(-1),
                    stdout: std::fs::read_to_string(&out).unwrap_or_default(),
                    stderr: std::fs::read_to_string(&err).unwrap_or_default(),
                });
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the shell exited ({status}); the guide must not `exit`"
                ));
            }
            if started.elapsed() > STEP_TIMEOUT {
                return Err(format!("did not finish within {STEP_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What is wrong with a step's run, if anything.
pub(crate) fn judge(step: &Step, ran: &Ran) -> Option<String> {
    let failed = ran.code != 0;
    if failed != step.fails {
        return Some(if step.fails {
            "the guide says it fails, but it succeeded".to_owned()
        } else {
            format!("exited with {}", ran.code)
        });
    }
    let shown = step.shows.as_deref()?;
    let printed = if step.fails {
        format!("{}{}", ran.stderr, ran.stdout)
    } else {
        ran.stdout.clone()
    };
    (!script::matches(shown, &printed)).then(|| format!("printed something else than\n  {shown}"))
}
