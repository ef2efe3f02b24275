//! Starting the upstream programs so that none outlives the process that started them.
//!
//! Every program runs in one process group of its own. A tiny reaper (`bash`) holds the read end
//! of a pipe whose write end only this process has: when this process ends in any way (normal
//! exit, panic, `SIGKILL`), the kernel closes the pipe, the reaper wakes up, stops the whole
//! group and removes the environment's data directory. No signal handler, no `Drop` that may
//! not run, no `unsafe`.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::{Error, Result};

/// Waits for its stdin to close, then stops the process group named on the first line and
/// removes the data directory given as `$1`. It ignores the terminal's signals so Ctrl-C on
/// `make dev` does not take it down before it has done its job.
const REAPER: &str = r#"
trap '' INT TERM HUP
read -r pgid || exit 0
while read -r _; do :; done
kill -TERM -- "-$pgid" 2>/dev/null
i=0
while [ $i -lt 50 ] && kill -0 -- "-$pgid" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
kill -KILL -- "-$pgid" 2>/dev/null
rm -rf -- "$1"
"#;

/// A program started by the [`Supervisor`].
#[derive(Debug)]
pub struct Program {
    /// Short name, also the log file's name.
    pub name: String,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    child: Child,
}

impl Program {
    /// Kills the program and waits for it (a replica that goes away, in a test).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The program's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Returns an error naming the log if the program has already exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::Exited {
                name: self.name.clone(),
                status: status.to_string(),
                log: self.log.clone(),
                tail: tail(&self.log, 30),
            }),
            Err(e) => Err(Error::io(&self.log, e)),
        }
    }
}

/// Owns the process group of one environment.
#[derive(Debug)]
pub struct Supervisor {
    logs: PathBuf,
    group: Mutex<Option<i32>>,
    reaper_stdin: Mutex<Option<ChildStdin>>,
    reaper: Mutex<Option<Child>>,
}

impl Supervisor {
    /// Starts the reaper. `data` is removed when the environment goes away; `logs` is kept.
    pub fn new(logs: &Path, data: &Path) -> Result<Self> {
        fs::create_dir_all(logs).map_err(|e| Error::io(logs, e))?;
        let mut reaper = Command::new("bash")
            .arg("-c")
            .arg(REAPER)
            .arg("kubenova-testenv-reaper")
            .arg(data)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: neither a Ctrl-C on the terminal nor our own killpg reaches it.
            .process_group(0)
            .spawn()
            .map_err(|e| Error::Spawn {
                program: "bash (reaper)".into(),
                source: e,
            })?;
        let stdin = reaper.stdin.take();
        Ok(Supervisor {
            logs: logs.to_owned(),
            group: Mutex::new(None),
            reaper_stdin: Mutex::new(stdin),
            reaper: Mutex::new(Some(reaper)),
        })
    }

    /// The process group all programs run in, once the first one started.
    pub fn process_group(&self) -> Option<i32> {
        *lock(&self.group)
    }

    /// Starts `command` in the environment's process group with its output in `<logs>/<name>.log`.
    pub fn spawn(&self, name: &str, mut command: Command) -> Result<Program> {
        let log = self.logs.join(format!("{name}.log"));
        let out = File::create(&log).map_err(|e| Error::io(&log, e))?;
        let err = out.try_clone().map_err(|e| Error::io(&log, e))?;
        let mut group = lock(&self.group);
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(group.unwrap_or(0));
        let program = format!("{:?}", command.get_program());
        let child = command
            .spawn()
            .map_err(|e| Error::Spawn { program, source: e })?;
        if group.is_none() {
            let pgid =
                i32::try_from(child.id()).map_err(|_| Error::Invalid("pid out of range".into()))?;
            *group = Some(pgid);
            if let Some(stdin) = lock(&self.reaper_stdin).as_mut() {
                writeln!(stdin, "{pgid}").map_err(|e| Error::io(Path::new("reaper pipe"), e))?;
            }
        }
        Ok(Program {
            name: name.to_owned(),
            log,
            child,
        })
    }

    /// Stops every program (TERM, then KILL after `grace`) and lets the reaper clean up.
    pub fn shutdown(&self, grace: Duration) {
        if let Some(pgid) = *lock(&self.group) {
            let group = Pid::from_raw(pgid);
            let _ = killpg(group, Signal::SIGTERM);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline && killpg(group, None).is_ok() {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = killpg(group, Signal::SIGKILL);
        }
        // Closing the pipe makes the reaper finish its job (and remove the data directory).
        drop(lock(&self.reaper_stdin).take());
        if let Some(mut reaper) = lock(&self.reaper).take() {
            let _ = reaper.wait();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The last `lines` lines of a log file, for error messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
