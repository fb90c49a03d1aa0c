//! The sandbox benchmark: the costs of running Workers the way a worker node
//! does, in sandbox processes (this binary re-executed), measured in one run
//! against the in-process engine: sandbox spawn, warm assignment, Worker load
//! on a warm sandbox, invocation round trips, private memory per sandbox and
//! per isolate, and how many live isolates fit in 20 GiB.

use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context;
use anyhow::Result;
use anyhow::bail;
use edge_engine::Isolate;
use edge_engine::Limits;
use edge_engine::NoHostFunctions;
use edge_sandbox::SandboxConfig;
use edge_sandbox::Supervisor;
use edge_sandbox::private_memory;
use serde_json::Value;
use serde_json::json;

use crate::stats::Summary;
use crate::stats::round;
use crate::workload;
use crate::workload::call;
use crate::workload::ms;

/// How long the benchmark waits for the warm pool to fill.
const WARM_POOL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(clap::Args)]
pub struct SandboxArgs {
    /// Cold sandbox spawns measured.
    #[arg(long, default_value_t = 20)]
    spawns: usize,
    /// New tenants served from the warm pool.
    #[arg(long, default_value_t = 20)]
    assignments: usize,
    /// Invocation round trips measured (sandboxed and in-process each).
    #[arg(long, default_value_t = 2000)]
    calls: usize,
    /// Live isolates held at once for the density figure.
    #[arg(long, default_value_t = 1024)]
    isolates: usize,
    /// Isolates per sandbox in the density run.
    #[arg(long, default_value_t = 64)]
    per_sandbox: usize,
}

const MIB: f64 = 1024.0 * 1024.0;
const BUDGET: u64 = 20 << 30;

fn limits() -> Limits {
    Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    }
}

pub fn run(args: &SandboxArgs) -> Result<Value> {
    crate::workload::block_on(run_async(args))
}

async fn run_async(args: &SandboxArgs) -> Result<Value> {
    // Cold spawns: no warm pool, so each new tenant's load starts a sandbox.
    let cold = Supervisor::start(SandboxConfig {
        warm_sandboxes: 0,
        ..crate::workload::sandbox_config()
    })
    .await
    .map_err(anyhow::Error::msg)?;
    let cgroup = format!("{:?}", cold.cgroup_version());
    let mut spawn = Vec::new();
    for n in 0..args.spawns {
        let loaded = cold
            .load(&format!("cold-{n}"), &workload::bundle(Some(n)), limits())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if loaded.took_warm_sandbox {
            bail!("a cold load found a warm sandbox");
        }
        spawn.push(loaded.placement_ms);
        cold.unload(&loaded.handle).await;
    }
    cold.shutdown().await;

    // Warm pool: assignment and the first load of a never-seen Worker.
    let warm = Supervisor::start(SandboxConfig {
        warm_sandboxes: 2,
        ..crate::workload::sandbox_config()
    })
    .await
    .map_err(anyhow::Error::msg)?;
    let mut assign = Vec::new();
    let mut load_in_sandbox = Vec::new();
    let mut load_end_to_end = Vec::new();
    let mut fresh_private = Vec::new();
    for n in 0..args.assignments {
        if !warm.wait_warm(2, WARM_POOL_TIMEOUT).await {
            bail!("the warm pool did not refill");
        }
        let t = Instant::now();
        let loaded = warm
            .load(&format!("tenant-{n}"), &workload::bundle(Some(n)), limits())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        load_end_to_end.push(ms(t));
        if !loaded.took_warm_sandbox || !loaded.prewarmed_isolate {
            bail!("warm load {n} was not warm: {loaded:?}");
        }
        assign.push(loaded.placement_ms);
        load_in_sandbox.push(loaded.load_ms);
        if let Some(bytes) = private_memory(loaded.handle.sandbox_pid()) {
            fresh_private.push(bytes as f64 / MIB);
        }
    }

    // Round trips: the same Worker through a sandbox and in this process.
    let loaded = warm
        .load("calls", &workload::bundle(Some(0)), limits())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let host: Arc<dyn edge_engine::HostFunctions> = Arc::new(NoHostFunctions);
    let mut sandboxed = Vec::with_capacity(args.calls);
    for _ in 0..args.calls {
        let t = Instant::now();
        let outcome = warm.invoke(&loaded.handle, &call(), host.clone()).await;
        sandboxed.push(ms(t));
        outcome.result.context("sandboxed call")?;
    }
    warm.shutdown().await;
    let mut isolate = Isolate::new(limits())?;
    isolate.load(&workload::bundle(Some(0)))?;
    let mut in_process = Vec::with_capacity(args.calls);
    for _ in 0..args.calls {
        let t = Instant::now();
        let outcome = isolate.invoke(&call(), &NoHostFunctions);
        in_process.push(ms(t));
        outcome.result.context("in-process call")?;
    }
    drop(isolate);

    let density = density(args).await?;
    Ok(json!({
        "scenario": "sandbox",
        "cgroup": cgroup,
        "sandbox_spawn": Summary::of(&spawn),
        "warm_assignment": Summary::of(&assign),
        "worker_load_on_warm_sandbox": {
            "in_sandbox": Summary::of(&load_in_sandbox),
            "end_to_end": Summary::of(&load_end_to_end),
        },
        "call_round_trip": {
            "sandboxed": Summary::of(&sandboxed),
            "in_process": Summary::of(&in_process),
        },
        "private_mib_of_a_sandbox_with_one_worker": mib_summary(&fresh_private),
        "density": density,
    }))
}

fn mib_summary(values: &[f64]) -> Value {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => Value::Null,
        n => {
            json!({"samples": n, "median_mib": round(sorted[n / 2]), "min_mib": round(sorted[0]), "max_mib": round(sorted[n - 1])})
        }
    }
}

/// Loads `isolates` Workers into sandboxes of `per_sandbox` each and reads
/// every sandbox's private memory: per sandbox, per isolate, and how many
/// isolates 20 GiB holds at that cost.
async fn density(args: &SandboxArgs) -> Result<Value> {
    let supervisor = Supervisor::start(SandboxConfig {
        warm_sandboxes: 0,
        prewarmed_isolates: 0,
        max_isolates_per_sandbox: args.per_sandbox,
        max_sandboxes_per_tenant: 1,
        ..crate::workload::sandbox_config()
    })
    .await
    .map_err(anyhow::Error::msg)?;
    let sandboxes = args.isolates.div_ceil(args.per_sandbox);
    let mut handles = Vec::with_capacity(args.isolates);
    let mut empty_private = Vec::new();
    let started = Instant::now();
    for n in 0..args.isolates {
        let tenant = format!("density-{}", n / args.per_sandbox);
        let loaded = supervisor
            .load(&tenant, &workload::bundle(Some(n)), limits())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if n % args.per_sandbox == 0 {
            // The sandbox with its first Worker; later ones show the slope.
            empty_private.push((
                loaded.handle.sandbox_pid(),
                private_memory(loaded.handle.sandbox_pid()).unwrap_or(0),
            ));
        }
        handles.push(loaded.handle);
    }
    let load_secs = started.elapsed().as_secs_f64();
    // Every isolate answers, so none is a dead placeholder.
    let host: Arc<dyn edge_engine::HostFunctions> = Arc::new(NoHostFunctions);
    for handle in handles.iter().step_by(args.per_sandbox / 4 + 1) {
        supervisor
            .invoke(handle, &call(), host.clone())
            .await
            .result
            .context("density call")?;
    }
    let mut pids: Vec<u32> = handles.iter().map(|h| h.sandbox_pid()).collect();
    pids.sort();
    pids.dedup();
    let total: u64 = pids.iter().filter_map(|pid| private_memory(*pid)).sum();
    let first_total: u64 = empty_private.iter().map(|(_, b)| b).sum();
    let per_isolate =
        (total - first_total) as f64 / (args.isolates - empty_private.len()).max(1) as f64;
    let per_sandbox_base = first_total as f64 / empty_private.len() as f64 - per_isolate;
    let amortised = total as f64 / args.isolates as f64;
    supervisor.shutdown().await;
    Ok(json!({
        "isolates": args.isolates,
        "sandboxes": sandboxes,
        "isolates_per_sandbox": args.per_sandbox,
        "load_seconds": round(load_secs),
        "private_total_mib": round(total as f64 / MIB),
        "private_per_sandbox_base_mib": round(per_sandbox_base / MIB),
        "private_per_isolate_mib": round(per_isolate / MIB),
        "private_per_isolate_amortised_mib": round(amortised / MIB),
        "isolates_within_20_gib": (BUDGET as f64 / amortised).floor(),
    }))
}
