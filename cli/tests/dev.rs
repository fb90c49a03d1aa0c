//! `edgectl dev` as a user runs it: real control-plane, worker-node and
//! gateway processes. Needs the binaries built next to edgectl:
//! `cargo build -p control-plane -p worker-node -p gateway -p edgectl --bins`.

use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::process::Child;
use tokio::process::Command;

/// Start-up includes electing, loading V8 in four nodes and health checks.
const START_LIMIT: Duration = Duration::from_secs(240);
/// Stopping drains the nodes (10 s each at most) and the rest.
const STOP_LIMIT: Duration = Duration::from_secs(90);
/// Each client command.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

fn edgectl_path() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_edgectl"))
}

/// The cluster's binaries must sit next to edgectl.
fn require_binaries() {
    let dir = edgectl_path().parent().expect("target dir");
    for name in ["control-plane", "worker-node", "gateway"] {
        assert!(
            dir.join(name).exists(),
            "{} is missing: run `cargo build -p control-plane -p worker-node -p gateway -p edgectl --bins`",
            dir.join(name).display()
        );
    }
}

/// A running `edgectl dev`.
struct Dev {
    child: Child,
    stderr: PathBuf,
}

impl Dev {
    fn spawn(data_dir: &Path, stderr: PathBuf) -> Self {
        let log = std::fs::File::create(&stderr).expect("stderr file");
        let child = Command::new(edgectl_path())
            .args(["dev", "--data-dir"])
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("edgectl dev starts");
        Dev { child, stderr }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The one JSON line on stdout, and the stdout lines after it (none
    /// are expected) read by a task.
    async fn summary(&mut self) -> (Value, tokio::task::JoinHandle<Vec<String>>) {
        let stdout = self.child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(START_LIMIT, lines.next_line())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no summary within {START_LIMIT:?}; stderr:\n{}",
                    self.stderr()
                )
            })
            .expect("read stdout")
            .unwrap_or_else(|| {
                panic!(
                    "edgectl dev ended without a summary; stderr:\n{}",
                    self.stderr()
                )
            });
        let value: Value = serde_json::from_str(&first).expect("the summary is JSON");
        let rest = tokio::spawn(async move {
            let mut rest = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                rest.push(line);
            }
            rest
        });
        (value, rest)
    }

    async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().expect("running");
        send(pid, rustix::process::Signal::TERM);
        tokio::time::timeout(STOP_LIMIT, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "not stopped within {STOP_LIMIT:?}; stderr:\n{}",
                    self.stderr()
                )
            })
            .expect("wait")
    }
}

fn send(pid: u32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a pid");
    rustix::process::kill_process(pid, signal).expect("signal sent");
}

/// A process as (pid, start time), so a reused pid is not mistaken for it.
type ProcessId = (u32, u64);

/// (pid, parent pid, start time, state) of every process.
fn processes() -> Vec<(u32, u32, u64, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Some((ppid, start, state)) = stat(pid) {
            out.push((pid, ppid, start, state));
        }
    }
    out
}

/// Parent pid, start time and state from /proc/PID/stat.
fn stat(pid: u32) -> Option<(u32, u64, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((ppid, start, state))
}

/// Every process below `root`.
fn descendants(root: u32) -> Vec<ProcessId> {
    let all = processes();
    let mut found = Vec::new();
    let mut frontier = vec![root];
    for _ in 0..16 {
        let next: Vec<u32> = all
            .iter()
            .filter(|(_, ppid, _, _)| frontier.contains(ppid))
            .map(|(pid, _, _, _)| *pid)
            .collect();
        if next.is_empty() {
            break;
        }
        found.extend(
            all.iter()
                .filter(|(pid, ..)| next.contains(pid))
                .map(|(pid, _, start, _)| (*pid, *start)),
        );
        frontier = next;
    }
    found
}

/// Processes whose command line mentions `path` (the children name their
/// data directory or config file in it).
fn mentioning(path: &Path) -> Vec<ProcessId> {
    let needle = path.to_string_lossy().into_owned();
    processes()
        .into_iter()
        .filter(|(pid, ..)| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .map(|(pid, _, start, _)| (pid, start))
        .collect()
}

fn alive((pid, start): ProcessId) -> bool {
    matches!(stat(pid), Some((_, s, state)) if s == start && state != 'Z' && state != 'X')
}

/// Waits until none of `processes` is alive; returns those still alive.
async fn wait_gone(processes: &[ProcessId], limit: Duration) -> Vec<ProcessId> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left: Vec<ProcessId> = processes.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() || tokio::time::Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs an edgectl client command against the dev cluster.
async fn client(summary: &Value, key: &str, args: &[&str], dir: &Path) -> (i32, Value) {
    let output = tokio::time::timeout(
        COMMAND_LIMIT,
        Command::new(edgectl_path())
            .arg("--gateway")
            .arg(summary["gateway"].as_str().expect("gateway"))
            .args(["--api-key", key])
            .args(args)
            .current_dir(dir)
            .env_remove("EDGE_REGION")
            .output(),
    )
    .await
    .expect("the command ends")
    .expect("edgectl runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().next().unwrap_or_else(|| {
        panic!(
            "{args:?} printed nothing; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let value = serde_json::from_str(line).unwrap_or_else(|_| panic!("{args:?}: not JSON: {line}"));
    (output.status.code().unwrap_or(-1), value)
}

fn tenant_key(summary: &Value) -> String {
    summary["tenant_key"]
        .as_str()
        .expect("tenant_key")
        .to_owned()
}

fn check_summary(summary: &Value, data_dir: &Path) {
    assert!(
        summary["gateway"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{summary}"
    );
    assert!(!summary["admin_key"].as_str().unwrap().is_empty());
    assert!(!tenant_key(summary).is_empty());
    assert_ne!(summary["admin_key"], summary["tenant_key"]);
    assert_eq!(summary["tenant"], "dev");
    assert_eq!(summary["control_plane"].as_array().unwrap().len(), 3);
    let canonical = std::fs::canonicalize(data_dir).unwrap();
    assert_eq!(summary["data_dir"].as_str(), canonical.to_str());
    for (region, names) in [("eu", ["eu-1", "eu-2"]), ("us", ["us-1", "us-2"])] {
        let r = &summary["regions"][region];
        assert!(r["latitude"].is_f64() && r["longitude"].is_f64(), "{r}");
        let nodes = r["nodes"].as_array().unwrap();
        let ids: Vec<&str> = nodes
            .iter()
            .map(|n| n["node_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, names);
        for node in nodes {
            assert!(node["addr"].as_str().unwrap().starts_with("127.0.0.1:"));
            assert!(node["pid"].as_u64().unwrap() > 0);
            let config = PathBuf::from(node["config"].as_str().unwrap());
            assert!(config.starts_with(&canonical) && config.exists(), "{node}");
        }
    }
    let mode = std::os::unix::fs::MetadataExt::mode(
        &std::fs::metadata(canonical.join("dev.json")).unwrap(),
    );
    assert_eq!(mode & 0o777, 0o600, "dev.json holds keys");
    // `. <data dir>/env` points the client commands at the cluster.
    let env_file = canonical.join("env");
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert_eq!(
        env,
        format!(
            "export EDGE_GATEWAY={}\nexport EDGE_API_KEY={}\n",
            summary["gateway"].as_str().unwrap(),
            summary["tenant_key"].as_str().unwrap()
        )
    );
    let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&env_file).unwrap());
    assert_eq!(mode & 0o777, 0o600, "env holds the tenant key");
}

const WORKER: &str = r#"import { greeting } from './lib.ts';
export default {
  async greet(input: { name: string }): Promise<string> {
    console.log('greeting', input.name);
    return greeting(input.name);
  },
  async fetch(request: Request): Promise<Response> {
    return new Response('path ' + new URL(request.url).pathname, { status: 201 });
  },
};
"#;

/// Puts the Worker and invokes it by call from each region and by fetch.
async fn put_and_invoke(summary: &Value, dir: &Path) {
    let key = tenant_key(summary);
    let (code, put) = client(
        summary,
        &key,
        &["put", "--id", "hello", "--file", "main.ts"],
        dir,
    )
    .await;
    assert_eq!(code, 0, "{put}");
    assert_eq!(put["ok"], true);
    assert_eq!(put["code_hash"].as_str().map(str::len), Some(64), "{put}");
    invoke_hello(summary, dir).await;
}

async fn invoke_hello(summary: &Value, dir: &Path) {
    let key = tenant_key(summary);
    for region in ["eu", "us"] {
        let (code, out) = client(
            summary,
            &key,
            &[
                "--region",
                region,
                "invoke",
                "--id",
                "hello",
                "--call",
                "greet",
                "--input",
                r#"{"name":"edge"}"#,
            ],
            dir,
        )
        .await;
        assert_eq!(code, 0, "{out}");
        assert_eq!(out["ok"], true, "{out}");
        assert_eq!(out["value"], "hello, edge");
        assert_eq!(out["region"], region, "{out}");
        assert!(out["node"].as_str().unwrap().starts_with(region), "{out}");
        assert!(out["stats"]["run_ms"].is_number(), "{out}");
    }
    let (code, out) = client(
        summary,
        &key,
        &[
            "invoke",
            "--id",
            "hello",
            "--fetch",
            "http://localhost/x",
            "--method",
            "POST",
            "--body",
            "b",
        ],
        dir,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["value"]["status"], 201);
    assert_eq!(out["value"]["body"], "path /x");
}

/// `edgectl logs --id hello` prints the Worker's console lines as JSON.
async fn follow_logs(summary: &Value, dir: &Path) {
    let mut logs = Command::new(edgectl_path())
        .arg("--gateway")
        .arg(summary["gateway"].as_str().unwrap())
        .args(["--api-key", &tenant_key(summary), "logs", "--id", "hello"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("edgectl logs starts");
    let mut lines = tokio::io::BufReader::new(logs.stdout.take().unwrap()).lines();
    let key = tenant_key(summary);
    // The subscription starts some time after the command does: invoke until
    // a line arrives.
    let mut event = None;
    for _ in 0..20 {
        let (code, out) = client(
            summary,
            &key,
            &[
                "invoke",
                "--id",
                "hello",
                "--call",
                "greet",
                "--input",
                r#"{"name":"logs"}"#,
            ],
            dir,
        )
        .await;
        assert_eq!(code, 0, "{out}");
        if let Ok(line) = tokio::time::timeout(Duration::from_millis(500), lines.next_line()).await
        {
            event = line.expect("read logs");
            break;
        }
    }
    let event: Value =
        serde_json::from_str(&event.expect("a log line within 20 invocations")).unwrap();
    assert_eq!(event["worker_id"], "hello", "{event}");
    assert_eq!(event["message"], "greeting logs", "{event}");
    assert_eq!(event["level"], "log", "{event}");
    assert!(
        event["node_id"].as_str().is_some_and(|n| !n.is_empty()),
        "{event}"
    );
    logs.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_starts_a_cluster_serves_clients_stops_cleanly_and_restarts_the_same() {
    require_binaries();
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("main.ts"), WORKER).unwrap();
    std::fs::write(
        work.join("lib.ts"),
        "export const greeting = (name: string): string => `hello, ${name}`;\n",
    )
    .unwrap();

    // First run: a fresh cluster.
    let mut dev = Dev::spawn(&data_dir, tmp.path().join("dev-1.stderr"));
    let (first, rest) = dev.summary().await;
    check_summary(&first, &data_dir);
    put_and_invoke(&first, &work).await;
    let key = tenant_key(&first);
    let (code, run) = client(
        &first,
        &key,
        &[
            "run",
            "--file",
            "main.ts",
            "--call",
            "greet",
            "--input",
            r#"{"name":"once"}"#,
        ],
        &work,
    )
    .await;
    assert_eq!(code, 0, "{run}");
    assert_eq!(run["value"], "hello, once");
    follow_logs(&first, &work).await;
    // A Worker failure is an outcome, not a gRPC error.
    let (code, missing) = client(
        &first,
        &key,
        &["invoke", "--id", "hello", "--call", "nope"],
        &work,
    )
    .await;
    assert_eq!(code, 1, "{missing}");
    assert_eq!(missing["ok"], false);
    // Another tenant's Worker does not exist for the admin.
    let admin = first["admin_key"].as_str().unwrap();
    let (code, hidden) = client(
        &first,
        admin,
        &["invoke", "--id", "hello", "--call", "greet"],
        &work,
    )
    .await;
    assert_eq!(
        (code, hidden["error"]["kind"].as_str()),
        (1, Some("not_found")),
        "{hidden}"
    );

    // SIGTERM: exit 0, and every process it started is gone.
    let dev_pid = dev.child.id().unwrap();
    let family = descendants(dev_pid);
    assert!(
        family.len() >= 8,
        "3 control-plane nodes, 4 worker nodes, a gateway: {family:?}"
    );
    let status = dev.terminate().await;
    assert_eq!(status.code(), Some(0), "stderr:\n{}", dev.stderr());
    let left = wait_gone(&family, Duration::from_secs(15)).await;
    assert!(
        left.is_empty(),
        "still running after edgectl dev stopped: {left:?}"
    );
    assert_eq!(
        rest.await.unwrap(),
        Vec::<String>::new(),
        "one line on stdout"
    );

    // Second run on the same data dir: same cluster, same keys, the Worker kept.
    let mut dev = Dev::spawn(&data_dir, tmp.path().join("dev-2.stderr"));
    let (second, _) = dev.summary().await;
    check_summary(&second, &data_dir);
    for field in ["gateway", "admin_key", "tenant_key", "control_plane"] {
        assert_eq!(first[field], second[field], "{field}");
    }
    let node_addrs = |s: &Value| -> BTreeMap<String, Value> {
        ["eu", "us"]
            .iter()
            .flat_map(|r| s["regions"][r]["nodes"].as_array().unwrap().clone())
            .map(|n| (n["node_id"].as_str().unwrap().to_owned(), n["addr"].clone()))
            .collect()
    };
    assert_eq!(node_addrs(&first), node_addrs(&second));
    let (code, list) = client(&second, &key, &["list"], &work).await;
    assert_eq!(code, 0, "{list}");
    let ids: Vec<&str> = list["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["worker_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["hello"]);
    invoke_hello(&second, &work).await;
    let status = dev.terminate().await;
    assert_eq!(status.code(), Some(0), "stderr:\n{}", dev.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_fails_to_start_is_named_with_its_log() {
    require_binaries();
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    // cp-2's data directory cannot be created: a file has its name.
    std::fs::write(data_dir.join("cp-2"), "in the way").unwrap();
    let mut dev = Dev::spawn(&data_dir, tmp.path().join("dev.stderr"));
    let status = tokio::time::timeout(STOP_LIMIT, dev.child.wait())
        .await
        .expect("edgectl dev gives up")
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let stderr = dev.stderr();
    assert!(stderr.contains("cp-2 exited during start-up"), "{stderr}");
    assert!(stderr.contains("cp-2.log"), "{stderr}");
    let left = wait_gone(&mentioning(&data_dir), Duration::from_secs(15)).await;
    assert!(left.is_empty(), "children are cleaned up: {left:?}");
    let mut stdout = String::new();
    if let Some(mut out) = dev.child.stdout.take() {
        use tokio::io::AsyncReadExt;
        out.read_to_string(&mut stdout).await.unwrap();
    }
    assert_eq!(stdout, "", "no summary on failure");
}
