//! `--wait`: poll until an object is ready (or failed), a spinner and the phase on a terminal,
//! one line per change otherwise; a failure or a timeout ends with the reason.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::{self, Error};
use crate::apps::Place;
use crate::commands::Env;
use crate::output::Kind;

/// What an app waits for.
#[derive(Debug, Clone)]
pub(crate) enum Goal {
    /// Phase `running`; with `after`, at a revision other than that one.
    Running {
        /// The revision before the change.
        after: Option<String>,
    },
    /// Phase `suspended`.
    Suspended,
}

/// Phases that end a wait with a failure (docs/apps.md, Status).
const FAILED: &[&str] = &["failed", "refused", "workflowFailed"];

const SPINNER: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

struct Progress {
    tty: bool,
    last: String,
    tick: usize,
    started: Instant,
}

impl Progress {
    fn new() -> Progress {
        Progress::on(std::io::stderr().is_terminal())
    }

    /// A spinner on a terminal (`tty`), plain lines otherwise.
    fn on(tty: bool) -> Progress {
        Progress {
            tty,
            last: String::new(),
            tick: 0,
            started: Instant::now(),
        }
    }

    fn show(&mut self, line: &str) {
        self.show_to(&mut std::io::stderr(), line);
    }

    /// On a terminal: the line in place, after a spinner and the seconds so far; otherwise the
    /// line once, when it changes.
    fn show_to(&mut self, out: &mut impl std::io::Write, line: &str) {
        if self.tty {
            self.tick += 1;
            let _ = write!(
                out,
                "\r\x1b[2K{} {line} ({}s)",
                SPINNER[self.tick % SPINNER.len()],
                self.started.elapsed().as_secs()
            );
            let _ = out.flush();
        } else if line != self.last {
            let _ = writeln!(out, "{line}");
        }
        self.last = line.to_owned();
    }

    fn end(&self) {
        self.end_to(&mut std::io::stderr());
    }

    /// Clears the spinner's line on a terminal.
    fn end_to(&self, out: &mut impl std::io::Write) {
        if self.tty {
            let _ = write!(out, "\r\x1b[2K");
        }
    }
}

/// `type=status reason: message` of the conditions that are not `True`.
fn reasons(v: &Value) -> String {
    v.get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("status").and_then(Value::as_str) != Some("True"))
        .map(|c| {
            format!(
                "{}={} {}: {}",
                c.get("type").and_then(Value::as_str).unwrap_or("?"),
                c.get("status").and_then(Value::as_str).unwrap_or("?"),
                c.get("reason").and_then(Value::as_str).unwrap_or(""),
                c.get("message").and_then(Value::as_str).unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Waits for a tenant (`project` None) or project to be ready; answers the object.
pub(crate) async fn object(
    env: &Env,
    kind: Kind,
    cluster: &str,
    tenant: &str,
    project: Option<&str>,
    timeout: Duration,
) -> Result<Value, Error> {
    let what = match project {
        Some(p) => format!("project/{p}"),
        None => format!("tenant/{tenant}"),
    };
    let mut progress = Progress::new();
    let deadline = Instant::now() + timeout;
    loop {
        let r = match (kind, project) {
            (Kind::Project, Some(p)) => env.client.projects_get(cluster, tenant, p).await?,
            _ => env.client.tenants_get(cluster, tenant).await?,
        };
        let v = api::json(r).await?;
        let status = v.get("status").cloned().unwrap_or(Value::Null);
        if status.get("ready").and_then(Value::as_bool) == Some(true) {
            progress.end();
            return Ok(v);
        }
        let why = reasons(&status);
        progress.show(&format!(
            "{what}: not ready{}",
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({why})")
            }
        ));
        if Instant::now() >= deadline {
            progress.end();
            return Err(Error::Other(format!(
                "{what} was not ready within {}s: {}",
                timeout.as_secs(),
                if why.is_empty() {
                    "no condition reported yet".into()
                } else {
                    why
                }
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Why an app is where it is: its last error and the conditions that are not `True`.
fn app_reason(v: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(e) = v
        .get("lastError")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
    {
        parts.push(format!("last error: {e}"));
    }
    let why = reasons(v);
    if !why.is_empty() {
        parts.push(why);
    }
    for p in v
        .get("pods")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if p.get("ready").and_then(Value::as_bool) != Some(true) {
            parts.push(format!(
                "pod {} {}",
                p.get("name").and_then(Value::as_str).unwrap_or("?"),
                p.get("phase")
                    .and_then(Value::as_str)
                    .unwrap_or("not ready")
            ));
        }
    }
    parts.join("; ")
}

/// Waits for an app to reach `goal`; answers its status.
pub(crate) async fn app(
    env: &Env,
    p: &Place,
    name: &str,
    goal: Goal,
    timeout: Duration,
) -> Result<Value, Error> {
    let mut progress = Progress::new();
    let deadline = Instant::now() + timeout;
    loop {
        let v = api::json(
            env.client
                .apps_status(&p.cluster, &p.tenant, &p.project, name)
                .await?,
        )
        .await?;
        let phase = v
            .get("phase")
            .and_then(Value::as_str)
            .unwrap_or("pending")
            .to_owned();
        let revision = v.get("revision").and_then(Value::as_str).map(str::to_owned);
        let reached = match &goal {
            Goal::Running { after } => {
                phase == "running" && (after.is_none() || revision != *after)
            }
            Goal::Suspended => phase == "suspended",
        };
        if reached {
            progress.end();
            return Ok(v);
        }
        let why = app_reason(&v);
        if FAILED.contains(&phase.as_str()) {
            progress.end();
            return Err(Error::Other(format!("app/{name} {phase}: {why}")));
        }
        progress.show(&format!(
            "app/{name}: {phase}{}",
            revision.map(|r| format!(" at {r}")).unwrap_or_default()
        ));
        if Instant::now() >= deadline {
            progress.end();
            return Err(Error::Other(format!(
                "app/{name} did not get there within {}s: phase {phase}{}",
                timeout.as_secs(),
                if why.is_empty() {
                    String::new()
                } else {
                    format!("; {why}")
                }
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;

    fn shown(tty: bool, lines: &[&str]) -> String {
        let mut out = Vec::new();
        let mut progress = Progress::on(tty);
        for line in lines {
            progress.show_to(&mut out, line);
        }
        progress.end_to(&mut out);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn a_terminal_gets_a_spinner_in_place_and_a_pipe_one_line_per_change() {
        let steps = [
            "app/web: deploying",
            "app/web: deploying",
            "app/web: running",
        ];
        let tty = shown(true, &steps);
        // Every poll redraws the one line (a new spinner frame), and the end clears it.
        assert_eq!(tty.matches("\r\x1b[2K").count(), 4, "{tty:?}");
        assert!(tty.contains("⠙ app/web: deploying (0s)"), "{tty:?}");
        assert!(tty.contains("⠹ app/web: deploying (0s)"), "{tty:?}");
        assert!(tty.contains("⠸ app/web: running (0s)"), "{tty:?}");
        assert!(!tty.contains('\n'), "{tty:?}");
        // Not a terminal: no control characters, a line only when the phase changes.
        assert_eq!(
            shown(false, &steps),
            "app/web: deploying\napp/web: running\n"
        );
    }
}
