//! The processes `edgectl dev` runs. Each starts in a process group of its
//! own, so a Ctrl-C at the terminal reaches only `edgectl`, which then stops
//! them in order; stderr is appended to its log file; the first line on
//! stdout is its ready signal (the rest is drained); it is stopped with
//! SIGTERM, then SIGKILL once a grace period has passed.

use std::path::Path;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use rustix::process::Pid;
use rustix::process::Signal;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use tokio::sync::oneshot;
use tokio::sync::watch;

/// How long a SIGKILLed child gets to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// How long a child that closed its stdout gets to exit before we say so.
const EXIT_WAIT: Duration = Duration::from_secs(5);
/// Lines of a child's log quoted when it fails to start.
const LOG_TAIL_LINES: usize = 20;

/// A child that exited, reported as it happens.
#[derive(Debug)]
pub(super) struct Death {
    /// Which child.
    pub(super) name: String,
    /// Its log file.
    pub(super) log: PathBuf,
    /// How it ended.
    pub(super) status: ExitStatus,
}

impl Death {
    /// "NAME exited (STATUS); its log, LOG, ends with: ..."
    pub(super) fn describe(&self, when: &str) -> String {
        format!(
            "{} exited {when} ({}); see its log {}{}",
            self.name,
            self.status,
            self.log.display(),
            log_tail(&self.log)
        )
    }
}

/// A running (or exited) child process.
pub(super) struct Child {
    /// Its name in messages and its log file's name.
    pub(super) name: String,
    /// Its process id.
    pub(super) pid: u32,
    /// Where its stderr goes.
    pub(super) log: PathBuf,
    first_line: Option<oneshot::Receiver<String>>,
    exited: watch::Receiver<Option<ExitStatus>>,
}

/// Starts `program args`, its stderr appended to `log`; its exit is sent on
/// `deaths`.
pub(super) fn spawn(
    name: &str,
    program: &Path,
    args: &[String],
    log: &Path,
    deaths: &mpsc::UnboundedSender<Death>,
) -> anyhow::Result<Child> {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .process_group(0)
        // Only a safety net: every path out of `edgectl dev` stops children in order.
        .kill_on_drop(true);
    // The client's own settings (EDGE_REGION, EDGE_API_KEY, ...) must not
    // configure the servers; EDGE_V8_DIR says where V8 is, for everyone.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if (key.starts_with("EDGE_") || key.starts_with("CP_")) && key != "EDGE_V8_DIR" {
            command.env_remove(key.as_ref());
        }
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {name} ({})", program.display()))?;
    let pid = child
        .id()
        .with_context(|| format!("{name} exited at once"))?;
    let (line_tx, line_rx) = oneshot::channel();
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(read_stdout(stdout, line_tx));
    }
    let (exit_tx, exit_rx) = watch::channel(None);
    let death = (name.to_owned(), log.to_path_buf(), deaths.clone());
    tokio::spawn(async move {
        let status = child.wait().await;
        // An error waiting means the child is gone in a way we cannot tell.
        let status = status.unwrap_or_else(|_| std::os::unix::process::ExitStatusExt::from_raw(-1));
        let _ = exit_tx.send(Some(status));
        let (name, log, deaths) = death;
        let _ = deaths.send(Death { name, log, status });
    });
    Ok(Child {
        name: name.to_owned(),
        pid,
        log: log.to_path_buf(),
        first_line: Some(line_rx),
        exited: exit_rx,
    })
}

/// Sends the first line, then drains the rest so the child never blocks
/// on a full pipe.
async fn read_stdout(stdout: tokio::process::ChildStdout, first: oneshot::Sender<String>) {
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    if let Ok(Some(line)) = lines.next_line().await {
        let _ = first.send(line);
    }
    while let Ok(Some(_)) = lines.next_line().await {}
}

impl Child {
    /// The child's first stdout line, within `limit`.
    pub(super) async fn ready_line(&mut self, limit: Duration) -> anyhow::Result<String> {
        let first_line = self
            .first_line
            .take()
            .context("the ready line was already read")?;
        match tokio::time::timeout(limit, first_line).await {
            Ok(Ok(line)) => Ok(line),
            Ok(Err(_closed)) => {
                let status = tokio::time::timeout(EXIT_WAIT, self.exited.wait_for(Option::is_some))
                    .await
                    .ok()
                    .and_then(|r| r.ok().and_then(|s| *s));
                match status {
                    Some(status) => anyhow::bail!(
                        "{}",
                        Death {
                            name: self.name.clone(),
                            log: self.log.clone(),
                            status
                        }
                        .describe("during start-up")
                    ),
                    None => anyhow::bail!(
                        "{} closed its stdout before saying it was ready; see its log {}",
                        self.name,
                        self.log.display()
                    ),
                }
            }
            Err(_) => anyhow::bail!(
                "{} did not say it was ready within {limit:?}; see its log {}{}",
                self.name,
                self.log.display(),
                log_tail(&self.log)
            ),
        }
    }

    /// Whether the process has not exited yet.
    pub(super) fn running(&self) -> bool {
        self.exited.borrow().is_none()
    }

    fn signal(&self, signal: Signal) {
        if !self.running() {
            return;
        }
        if let Some(pid) = i32::try_from(self.pid).ok().and_then(Pid::from_raw) {
            // It may have exited since the check; then there is nothing to stop.
            let _ = rustix::process::kill_process(pid, signal);
        }
    }

    /// Waits until the process exited, at most until `deadline`.
    async fn exited_by(&mut self, deadline: tokio::time::Instant) -> bool {
        tokio::time::timeout_at(deadline, self.exited.wait_for(Option::is_some))
            .await
            .is_ok()
    }
}

/// Stops `children` together: SIGTERM, up to `grace` for them to exit, then
/// SIGKILL for any still running.
pub(super) async fn stop(children: &mut [&mut Child], grace: Duration) {
    for child in children.iter() {
        child.signal(Signal::TERM);
    }
    let deadline = tokio::time::Instant::now() + grace;
    for child in children.iter_mut() {
        if child.exited_by(deadline).await {
            continue;
        }
        eprintln!(
            "edgectl dev: {} did not stop within {grace:?} of SIGTERM; killing it",
            child.name
        );
        child.signal(Signal::KILL);
        child
            .exited_by(tokio::time::Instant::now() + KILL_WAIT)
            .await;
    }
}

/// The last lines of a log, indented, for an error message ("" when empty).
fn log_tail(log: &Path) -> String {
    let Ok(text) = std::fs::read(log) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
    if tail.is_empty() {
        return String::new();
    }
    format!(", which ends with:\n    {}", tail.join("\n    "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str, log: &Path, deaths: &mpsc::UnboundedSender<Death>) -> Child {
        spawn(
            "test-child",
            Path::new("/bin/sh"),
            &["-c".to_owned(), script.to_owned()],
            log,
            deaths,
        )
        .expect("spawn /bin/sh")
    }

    #[tokio::test]
    async fn the_first_line_is_the_ready_signal() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut child = shell("echo ready; echo more; exec sleep 30", &log, &tx);
        assert_eq!(
            child.ready_line(Duration::from_secs(10)).await.unwrap(),
            "ready"
        );
        assert!(child.running());
        stop(&mut [&mut child], Duration::from_secs(5)).await;
        assert!(!child.running(), "SIGTERM stops it");
    }

    #[tokio::test]
    async fn a_child_that_dies_before_ready_is_named_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("b.log");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut child = shell("echo 'bad config: no port' >&2; exit 3", &log, &tx);
        let error = child
            .ready_line(Duration::from_secs(10))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("test-child exited during start-up"),
            "{error}"
        );
        assert!(error.contains("b.log"), "{error}");
        assert!(error.contains("bad config: no port"), "{error}");
        let death = rx.recv().await.expect("the death is reported");
        assert_eq!(death.status.code(), Some(3));
    }

    #[tokio::test]
    async fn a_child_ignoring_sigterm_is_killed_after_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("c.log");
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut child = shell(
            "trap '' TERM; echo up; while :; do sleep 1; done",
            &log,
            &tx,
        );
        child.ready_line(Duration::from_secs(10)).await.unwrap();
        let started = tokio::time::Instant::now();
        stop(&mut [&mut child], Duration::from_millis(300)).await;
        assert!(!child.running(), "SIGKILL stops it");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_silent_child_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("d.log");
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut child = shell("exec sleep 30", &log, &tx);
        let error = child
            .ready_line(Duration::from_millis(200))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("did not say it was ready"), "{error}");
        stop(&mut [&mut child], Duration::from_secs(5)).await;
    }
}
