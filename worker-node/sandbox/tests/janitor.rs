//! A supervisor killed with SIGKILL cleans up nothing itself; its janitor
//! removes the sandbox cgroups and working directories it left.

#![allow(clippy::disallowed_methods)] // a plain thread waits on a child process

mod sandbox_support;

use std::io::BufRead;
use std::io::BufReader;
use std::path::Path;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use sandbox_support::*;

/// Set in the child process this test starts: it becomes the supervisor.
const CHILD_ENV: &str = "EDGE_JANITOR_TEST_SUPERVISOR";
/// How long the janitor may take to clean up.
const CLEANUP_DEADLINE: Duration = Duration::from_secs(15);

#[test]
fn a_killed_supervisor_leaves_no_cgroup_or_directory_behind() {
    if let Some(workdir) = std::env::var_os(CHILD_ENV) {
        run_supervisor_until_killed(Path::new(&workdir));
    }
    let base = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_supervisor_leaves_no_cgroup_or_directory_behind",
            "--nocapture",
        ])
        .env(CHILD_ENV, base.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the supervisor process starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let cgroup = loop {
        let line = lines
            .next()
            .expect("the supervisor says it is ready")
            .unwrap();
        if let Some(rest) = line.strip_prefix("READY ") {
            break rest.to_owned();
        }
    };
    let workdirs = || -> Vec<String> {
        std::fs::read_dir(base.path())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(!workdirs().is_empty(), "the supervisor made its directory");
    child.kill().expect("SIGKILL");
    child.wait().unwrap();

    let started = Instant::now();
    while started.elapsed() < CLEANUP_DEADLINE {
        let cgroup_gone = cgroup == "none" || !Path::new(&cgroup).exists();
        if cgroup_gone && workdirs().is_empty() {
            println!("cleaned up in {:?}", started.elapsed());
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "left behind after {CLEANUP_DEADLINE:?}: cgroup {cgroup} exists={}, directories {:?}",
        Path::new(&cgroup).exists(),
        workdirs()
    );
}

/// The child's part: a supervisor with a loaded Worker, then wait to be killed.
fn run_supervisor_until_killed(workdir: &Path) -> ! {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let supervisor = supervisor_with(edge_sandbox::SandboxConfig {
            workdir: Some(workdir.to_owned()),
            ..config()
        })
        .await;
        let loaded = supervisor
            .load("tenant", &worker(ADDER), limits(64))
            .await
            .expect("loads");
        let cgroup = cgroup_of(loaded.handle.sandbox_pid()).unwrap_or_else(|| "none".into());
        println!("READY {cgroup}");
        std::future::pending::<()>().await;
    });
    unreachable!("killed before this")
}

/// The supervisor's directory of sandbox cgroups: the parent of the
/// sandbox's own memory cgroup.
fn cgroup_of(pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let line = text
        .lines()
        .find(|l| l.contains(":memory:") || l.starts_with("0::"))?;
    let path = line.splitn(3, ':').nth(2)?;
    let mount = if line.starts_with("0::") {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/memory"
    };
    let sandbox = Path::new(mount).join(path.trim_start_matches('/'));
    Some(sandbox.parent()?.display().to_string())
}
