//! A Worker loaded and invoked through a real sandbox process.

mod sandbox_support;

use std::sync::Arc;
use std::time::Duration;

use edge_engine::ErrorKind;
use edge_engine::InvocationValue;
use edge_engine::NoHostFunctions;
use sandbox_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_runs_in_a_sandbox_and_answers() {
    let supervisor = supervisor().await;
    let loaded = supervisor
        .load("tenant-a", &worker(ADDER), limits(64))
        .await
        .expect("loads");
    println!(
        "load {:.2} ms (placement {:.2} ms, warm sandbox {}, prewarmed isolate {})",
        loaded.load_ms, loaded.placement_ms, loaded.took_warm_sandbox, loaded.prewarmed_isolate
    );
    assert_ne!(loaded.handle.sandbox_pid(), std::process::id());
    for n in 0..3 {
        let outcome = supervisor
            .invoke(
                &loaded.handle,
                &call("run", &n.to_string()),
                Arc::new(NoHostFunctions),
            )
            .await;
        assert_eq!(
            outcome.result,
            Ok(InvocationValue::Json((n + 1).to_string()))
        );
    }
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "debugging aid: set SANDBOX_EXE to a wrapper (e.g. strace)"]
async fn trace_a_sandbox() {
    let mut config = config();
    if let Some(exe) = std::env::var_os("SANDBOX_EXE") {
        config.executable = exe.into();
    }
    config.seccomp = std::env::var_os("SANDBOX_NO_SECCOMP").is_none();
    config.warm_sandboxes = 0;
    let supervisor = supervisor_with(config).await;
    let loaded = supervisor.load("tenant-a", &worker("export default { async run(n) { const a = new Uint8Array(1<<20); a.fill(1); await new Promise(r => setTimeout(r, 5)); return n + a[5]; } };"), limits(64)).await.expect("loads");
    let loaded2 = supervisor
        .load("tenant-a", &worker(ADDER), limits(64))
        .await
        .expect("loads");
    for n in 0..3 {
        let outcome = supervisor
            .invoke(
                &loaded.handle,
                &call("run", &n.to_string()),
                Arc::new(NoHostFunctions),
            )
            .await;
        println!("{:?}", outcome.result);
        let outcome = supervisor
            .invoke(
                &loaded2.handle,
                &call("run", &n.to_string()),
                Arc::new(NoHostFunctions),
            )
            .await;
        println!("{:?}", outcome.result);
    }
    supervisor.unload(&loaded.handle).await;
    supervisor.shutdown().await;
}

/// A caller's nearer deadline stops a spinning Worker at the deadline, not
/// at the Worker's own 10 s wall time, and the next call runs normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_deadline_caps_one_invocation() {
    let supervisor = supervisor().await;
    let source = "export default { run(spin) { if (spin) { for (;;) {} } return 'fine'; } };";
    let loaded = supervisor
        .load("tenant-a", &worker(source), limits(64))
        .await
        .expect("loads");
    let started = std::time::Instant::now();
    let capped = supervisor
        .invoke_within(
            &loaded.handle,
            &call("run", "true"),
            Arc::new(NoHostFunctions),
            Some(Duration::from_millis(300)),
        )
        .await;
    let waited = started.elapsed();
    let error = capped.result.expect_err("a spinning Worker cannot answer");
    assert_eq!(error.kind, ErrorKind::Timeout, "{error:?}");
    assert!(
        error.message.contains("300 ms"),
        "the message names the capped limit: {error:?}"
    );
    // Far below the Worker's own 10 s limit, however slow the machine.
    assert!(waited < Duration::from_secs(8), "took {waited:?}");

    let next = supervisor
        .invoke(
            &loaded.handle,
            &call("run", "false"),
            Arc::new(NoHostFunctions),
        )
        .await;
    assert_eq!(next.result, Ok(InvocationValue::Json("\"fine\"".into())));
    supervisor.shutdown().await;
}

/// The CPU cgroup of a sandbox's process, if it is in one of ours.
fn cpu_group(pid: u32) -> Option<std::path::PathBuf> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = cgroups.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers.split(',').any(|c| c == "cpu").then_some(path)
    })?;
    let dir = std::path::Path::new("/sys/fs/cgroup/cpu").join(path.trim_start_matches('/'));
    dir.join("cpu.idle").exists().then_some(dir)
}

/// A sandbox whose invocation runs past the demotion threshold is marked
/// idle for the scheduler while it runs, and restored once it is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_running_sandbox_is_demoted_while_it_runs() {
    let supervisor = Arc::new(supervisor().await);
    let loaded = supervisor
        .load(
            "tenant-spin",
            &worker("export default { run() { const end = Date.now() + 1500; while (Date.now() < end) {} return 'spun'; } };"),
            limits(64),
        )
        .await
        .expect("loads");
    let Some(group) = cpu_group(loaded.handle.sandbox_pid()) else {
        println!("no writable v1 cpu hierarchy with cpu.idle here: nothing to check");
        return;
    };
    let idle = || std::fs::read_to_string(group.join("cpu.idle")).unwrap_or_default();
    assert_eq!(idle().trim(), "0", "a fresh sandbox is in good standing");
    let running = {
        let supervisor = supervisor.clone();
        let handle = loaded.handle.clone();
        tokio::spawn(async move {
            supervisor
                .invoke(&handle, &call("run", "null"), Arc::new(NoHostFunctions))
                .await
        })
    };
    let mut demoted = false;
    for _ in 0..100 {
        if idle().trim() == "1" {
            demoted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        demoted,
        "the spinning sandbox's group was never marked idle"
    );
    let outcome = running.await.expect("joins");
    assert_eq!(outcome.result, Ok(InvocationValue::Json("\"spun\"".into())));
    let mut restored = false;
    for _ in 0..100 {
        if idle().trim() == "0" {
            restored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(restored, "the group stayed idle after the work ended");
}
