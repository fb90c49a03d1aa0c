//! Containment with real processes: what one tenant's Worker does to its
//! sandbox never reaches another tenant or the node.

mod sandbox_support;

use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use edge_engine::ErrorKind;
use edge_engine::HostFunctions;
use edge_engine::InvocationValue;
use edge_engine::NoHostFunctions;
use sandbox_support::*;

const ARRAY_BUFFER_BOMB: &str = "
const keep = [];
export default {
  async run() {
    for (let i = 0; i < 24; i++) { const b = new Uint8Array(64 * 1024 * 1024); b.fill(7); keep.push(b); }
    return keep.length;
  },
};";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_array_buffer_bomb_ends_with_memory_while_another_tenant_keeps_working() {
    // Held by the isolate's limit or, failing that, by the cgroup.
    let supervisor = Arc::new(supervisor().await);
    assert!(
        supervisor.cgroup_version().is_some(),
        "this host offers a writable memory cgroup"
    );
    let bomb = supervisor
        .load("bomber", &worker(ARRAY_BUFFER_BOMB), limits(64))
        .await
        .expect("bomb loads");
    let adder = supervisor
        .load("bystander", &worker(ADDER), limits(64))
        .await
        .expect("adder loads");
    assert_ne!(bomb.handle.sandbox_pid(), adder.handle.sandbox_pid());

    let bomb_task = {
        let supervisor = supervisor.clone();
        let handle = bomb.handle.clone();
        tokio::spawn(async move {
            supervisor
                .invoke(&handle, &call("run", "null"), Arc::new(NoHostFunctions))
                .await
        })
    };
    // The other tenant keeps invoking while the bomb goes off (bounded).
    let mut served = 0;
    for n in 0..2000 {
        let outcome = supervisor
            .invoke(
                &adder.handle,
                &call("run", &n.to_string()),
                Arc::new(NoHostFunctions),
            )
            .await;
        assert_eq!(
            outcome.result,
            Ok(InvocationValue::Json((n + 1).to_string())),
            "bystander invocation {n}"
        );
        served += 1;
        if bomb_task.is_finished() {
            break;
        }
    }
    let outcome = bomb_task.await.expect("bomb task");
    println!(
        "bomb: {:?}; bystander invocations served meanwhile: {served}",
        outcome.result
    );
    let error = outcome.result.expect_err("the bomb must not complete");
    assert_eq!(error.kind, ErrorKind::Memory, "{error}");
    // Usually the isolate's own limit fires (the sandbox's growth is watched
    // every 5 ms) and the sandbox survives; a 64 MiB allocation between two
    // looks can still reach the cgroup first. Either way: `memory`, and the
    // other tenant never noticed.
    println!("the bomber's sandbox survived: {}", bomb.handle.is_live());
    assert!(adder.handle.is_live());

    // The bomber's tenant is served again by a fresh sandbox.
    let again = supervisor
        .load("bomber", &worker(ADDER), limits(64))
        .await
        .expect("reload");
    let outcome = supervisor
        .invoke(&again.handle, &call("run", "41"), Arc::new(NoHostFunctions))
        .await;
    assert_eq!(outcome.result, Ok(InvocationValue::Json("42".into())));
    Arc::try_unwrap(supervisor)
        .ok()
        .expect("sole owner")
        .shutdown()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_heap_bomb_is_stopped_by_the_isolate_limit_and_its_sandbox_survives() {
    // V8 checks its heap limit after collections; this grows faster than
    // that, and used to outrun it into the cgroup (the whole sandbox died).
    const HEAP_BOMB: &str = "
export default {
  async run() { const a = []; for (let i = 0; i < 1e9; i++) a.push({ i, s: 'v' + i }); },
};";
    let supervisor = supervisor().await;
    let bomb = supervisor
        .load("bomber", &worker(HEAP_BOMB), limits(128))
        .await
        .expect("bomb loads");
    let neighbour = supervisor
        .load("bomber", &worker(ADDER), limits(64))
        .await
        .expect("a second Worker of the tenant loads");
    assert_eq!(bomb.handle.sandbox_pid(), neighbour.handle.sandbox_pid());
    let outcome = supervisor
        .invoke(
            &bomb.handle,
            &call("run", "null"),
            Arc::new(NoHostFunctions),
        )
        .await;
    let error = outcome.result.expect_err("the bomb must not complete");
    assert_eq!(error.kind, ErrorKind::Memory, "{error}");
    assert!(
        error.message.contains("memory limit of 128 MiB"),
        "the isolate's limit, not the cgroup: {error}"
    );
    assert!(bomb.handle.is_live(), "the sandbox survives");
    let outcome = supervisor
        .invoke(
            &neighbour.handle,
            &call("run", "1"),
            Arc::new(NoHostFunctions),
        )
        .await;
    assert_eq!(outcome.result, Ok(InvocationValue::Json("2".into())));
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_killed_by_its_cgroup_reports_memory_and_is_replaced() {
    // Without the sandbox's growth watch only V8's heap limit is left, and
    // ArrayBuffers are outside it: the cgroup's OOM kill stops the bomb.
    let config = edge_sandbox::SandboxConfig {
        memory_watch: false,
        ..config()
    };
    let supervisor = supervisor_with(config).await;
    if supervisor.cgroup_version().is_none() {
        println!("no writable memory cgroup here: nothing to test");
        return;
    }
    let bomb = supervisor
        .load("bomber", &worker(ARRAY_BUFFER_BOMB), limits(48))
        .await
        .expect("bomb loads");
    let outcome = supervisor
        .invoke(
            &bomb.handle,
            &call("run", "null"),
            Arc::new(NoHostFunctions),
        )
        .await;
    let error = outcome.result.expect_err("the bomb must not complete");
    println!("{error}");
    assert_eq!(error.kind, ErrorKind::Memory, "{error}");
    assert!(!bomb.handle.is_live(), "the cgroup killed the sandbox");
    let again = supervisor
        .load("bomber", &worker(ADDER), limits(48))
        .await
        .expect("reload in a fresh sandbox");
    let outcome = supervisor
        .invoke(&again.handle, &call("run", "1"), Arc::new(NoHostFunctions))
        .await;
    assert_eq!(outcome.result, Ok(InvocationValue::Json("2".into())));
    supervisor.shutdown().await;
}

const MICROTASK_LOOP: &str = "
export default {
  async run(n) {
    if (n === 0) { (async () => { while (true) await null; })(); }
    return n;
  },
};";

/// CPU time (user + system) of a whole process, from /proc/PID/stat, in clock ticks.
fn process_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields
        .get(11)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cgroup_the_watchdog_holds_the_memory_limit() {
    let mut config = config();
    config.cgroup = edge_sandbox::CgroupMode::Off;
    let supervisor = supervisor_with(config).await;
    assert_eq!(supervisor.cgroup_version(), None);
    let bomb = supervisor
        .load("bomber", &worker(ARRAY_BUFFER_BOMB), limits(64))
        .await
        .expect("bomb loads");
    let outcome = supervisor
        .invoke(
            &bomb.handle,
            &call("run", "null"),
            Arc::new(NoHostFunctions),
        )
        .await;
    println!("bomb under the watchdog: {:?}", outcome.result);
    assert_eq!(
        outcome.result.expect_err("must not complete").kind,
        ErrorKind::Memory
    );
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_microtask_loop_leaves_no_cpu_burning_and_the_next_invocation_succeeds() {
    let supervisor = supervisor().await;
    let mut limits = limits(64);
    limits.wall_time = Duration::from_secs(2);
    limits.cpu_time = Duration::from_secs(1);
    let loaded = supervisor
        .load("looper", &worker(MICROTASK_LOOP), limits)
        .await
        .expect("loads");
    let pid = loaded.handle.sandbox_pid();
    let outcome = supervisor
        .invoke(&loaded.handle, &call("run", "0"), Arc::new(NoHostFunctions))
        .await;
    // The handler's value gets out through the engine's shared mailbox even
    // though the isolate's thread never becomes idle again.
    assert_eq!(outcome.result, Ok(InvocationValue::Json("0".into())));

    // Wait (bounded) until the sandbox's CPU use over a 200 ms window is
    // near zero: the wedged isolate must have been disposed.
    let started = Instant::now();
    let mut quiet = None;
    for _ in 0..50 {
        let before = process_ticks(pid);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let used = process_ticks(pid) - before;
        if used <= 2 {
            quiet = Some(used);
            break;
        }
    }
    println!(
        "sandbox quiet after {:.0} ms (ticks in last 200 ms window: {quiet:?})",
        started.elapsed().as_secs_f64() * 1e3
    );
    assert!(quiet.is_some(), "the sandbox kept burning CPU");

    let outcome = supervisor
        .invoke(&loaded.handle, &call("run", "1"), Arc::new(NoHostFunctions))
        .await;
    println!(
        "next invocation: {:?} (load_ms {:.2}, run_ms {:.2})",
        outcome.result, outcome.stats.load_ms, outcome.stats.run_ms
    );
    assert_eq!(outcome.result, Ok(InvocationValue::Json("1".into())));
    assert_eq!(
        loaded.handle.sandbox_pid(),
        pid,
        "same sandbox, only the isolate was replaced"
    );
    supervisor.shutdown().await;
}

/// A binding that tells the test the invocation is under way.
struct Started(std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>);

impl HostFunctions for Started {
    fn bindings(&self) -> Vec<String> {
        vec!["started".into()]
    }
    fn call(&self, _name: &str, _args_json: &str) -> Result<String, String> {
        if let Some(tx) = self.0.lock().unwrap().take() {
            let _ = tx.send(());
        }
        Ok("null".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_killed_mid_invocation_gives_crashed_and_the_node_serves_the_next_request() {
    let supervisor = Arc::new(supervisor().await);
    let source = "export default { async run(n, env) { await env.started(); await new Promise(r => setTimeout(r, 8000)); return n; } };";
    let loaded = supervisor
        .load("victim", &worker(source), limits(64))
        .await
        .expect("loads");
    let pid = loaded.handle.sandbox_pid();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let host: Arc<dyn HostFunctions> = Arc::new(Started(std::sync::Mutex::new(Some(tx))));
    let task = {
        let supervisor = supervisor.clone();
        let handle = loaded.handle.clone();
        tokio::spawn(async move { supervisor.invoke(&handle, &call("run", "1"), host).await })
    };
    tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("the Worker starts")
        .expect("signal");
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let outcome = task.await.expect("task");
    println!("killed sandbox: {:?}", outcome.result);
    let error = outcome.result.expect_err("a killed sandbox cannot answer");
    assert_eq!(error.kind, ErrorKind::Crashed, "{error}");

    // The node goes on: same tenant, new sandbox; and another tenant.
    for tenant in ["victim", "other"] {
        let loaded = supervisor
            .load(tenant, &worker(ADDER), limits(64))
            .await
            .expect("loads after the kill");
        assert_ne!(loaded.handle.sandbox_pid(), pid);
        let outcome = supervisor
            .invoke(&loaded.handle, &call("run", "1"), Arc::new(NoHostFunctions))
            .await;
        assert_eq!(outcome.result, Ok(InvocationValue::Json("2".into())));
    }
    Arc::try_unwrap(supervisor)
        .ok()
        .expect("sole owner")
        .shutdown()
        .await;
}
