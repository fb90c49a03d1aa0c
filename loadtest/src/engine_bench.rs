//! The engine benchmark: what an isolate costs to create, load and call, how
//! many fit, and how that compares with a process per invocation.

use std::process::Command;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context;
use anyhow::Result;
use anyhow::bail;
use edge_engine::InvocationValue;
use edge_engine::Isolate;
use edge_engine::Limits;
use edge_engine::NoHostFunctions;
use edge_engine::V8;
use serde_json::Value;
use serde_json::json;

use crate::stats::Summary;
use crate::stats::round;
use crate::workload;
use crate::workload::INPUT;
use crate::workload::WORKER;
use crate::workload::call;
use crate::workload::ms;

#[derive(clap::Args)]
pub struct EngineArgs {
    /// Isolates created (and Workers loaded) for the creation and load figures.
    #[arg(long, default_value_t = 200)]
    creations: usize,
    /// Warm `call` round trips measured on one isolate.
    #[arg(long, default_value_t = 2000)]
    calls: usize,
    /// Live isolates held at once for the density figure.
    #[arg(long, default_value_t = 1000)]
    isolates: usize,
    /// Fresh `node -e` processes started for the baseline.
    #[arg(long, default_value_t = 30)]
    node_runs: usize,
}

pub fn run(args: &EngineArgs) -> Result<Value> {
    let started = Instant::now();
    let v8 = V8::get().context("loading V8")?;
    let v8_init_ms = ms(started);
    let limits = Limits::default();

    // Isolate creation and Worker load, measured apart.
    let mut create = Vec::with_capacity(args.creations);
    let mut load = Vec::with_capacity(args.creations);
    let mut first_call = Vec::with_capacity(args.creations);
    let mut expected = None;
    for _ in 0..args.creations {
        let t = Instant::now();
        let mut isolate = Isolate::new(limits)?;
        create.push(ms(t));
        let t = Instant::now();
        isolate
            .load(&workload::bundle(None))
            .map_err(|e| anyhow::anyhow!("load: {e}"))?;
        load.push(ms(t));
        let t = Instant::now();
        let outcome = isolate.invoke(&call(), &NoHostFunctions);
        first_call.push(ms(t));
        let value = outcome.result.map_err(|e| anyhow::anyhow!("call: {e}"))?;
        expected.get_or_insert(value);
    }
    let Some(InvocationValue::Json(expected)) = expected else {
        bail!("the benchmark Worker returned no JSON");
    };

    // Warm round trips on one isolate.
    let mut isolate = Isolate::new(limits)?;
    isolate
        .load(&workload::bundle(None))
        .map_err(|e| anyhow::anyhow!("load: {e}"))?;
    let mut warm = Vec::with_capacity(args.calls);
    let mut warm_cpu = Vec::with_capacity(args.calls);
    for _ in 0..args.calls {
        let t = Instant::now();
        let outcome = isolate.invoke(&call(), &NoHostFunctions);
        warm.push(ms(t));
        warm_cpu.push(outcome.stats.cpu_ms);
        if outcome.result != Ok(InvocationValue::Json(expected.clone())) {
            bail!("warm call returned {:?}", outcome.result);
        }
    }
    drop(isolate);

    let density = density(args.isolates, limits)?;
    let node = node_baseline(args.node_runs, &expected)?;

    let warm_summary = Summary::of(&warm);
    let cold: Vec<f64> = (0..create.len())
        .map(|i| create[i] + load[i] + first_call[i])
        .collect();
    let cold_summary = Summary::of(&cold);
    let ratios = node.as_ref().map(|node| {
        json!({
            "node_process_vs_warm_call": round(node.median_ms / warm_summary.median_ms),
            "node_process_vs_cold_isolate": round(node.median_ms / cold_summary.median_ms),
        })
    });
    Ok(json!({
        "scenario": "engine",
        "v8_version": v8.version(),
        "v8_init_ms": round(v8_init_ms),
        "isolate_create": Summary::of(&create),
        "worker_load": Summary::of(&load),
        "first_call_after_load": Summary::of(&first_call),
        "cold_create_load_call": cold_summary,
        "warm_call_round_trip": warm_summary,
        "warm_call_cpu": Summary::of(&warm_cpu),
        "density": density,
        "baseline_node_process_per_invocation": node,
        "ratios_median": ratios,
    }))
}

fn resident_bytes() -> Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .context("statm has a resident field")?
        .parse()?;
    Ok(pages * 4096)
}

/// N live isolates, each with the Worker loaded and called once.
fn density(n: usize, limits: Limits) -> Result<Value> {
    let before = resident_bytes()?;
    let started = Instant::now();
    let mut live = Vec::with_capacity(n);
    for i in 0..n {
        let mut isolate = Isolate::new(limits).with_context(|| format!("isolate {i} of {n}"))?;
        isolate
            .load(&workload::bundle(None))
            .map_err(|e| anyhow::anyhow!("load {i}: {e}"))?;
        let outcome = isolate.invoke(&call(), &NoHostFunctions);
        outcome
            .result
            .map_err(|e| anyhow::anyhow!("call {i}: {e}"))?;
        live.push(isolate);
    }
    let fill_ms = ms(started);
    let after = resident_bytes()?;
    let t = Instant::now();
    drop(live);
    let dispose_ms = ms(t);
    let released = resident_bytes()?;
    let per_isolate = (after.saturating_sub(before)) as f64 / n as f64;
    Ok(json!({
        "live_isolates": n,
        "fill_ms": round(fill_ms),
        "resident_before_mib": round(before as f64 / 1048576.0),
        "resident_with_isolates_mib": round(after as f64 / 1048576.0),
        "resident_after_dispose_mib": round(released as f64 / 1048576.0),
        "resident_per_isolate_mib": round(per_isolate / 1048576.0),
        "dispose_all_ms": round(dispose_ms),
        "isolates_per_20_gib": (20.0 * 1073741824.0 / per_isolate).floor(),
    }))
}

/// A fresh node process per invocation of the same Worker code: what a
/// sandbox without isolates pays. `None` when node is not installed.
fn node_baseline(runs: usize, expected: &str) -> Result<Option<Summary>> {
    let version = Command::new("node").arg("--version").output();
    let Ok(version) = version else {
        eprintln!("node is not installed: skipping the baseline");
        return Ok(None);
    };
    if !version.status.success() {
        return Ok(None);
    }
    // The same module body, called the same way, result printed as JSON.
    let body = WORKER.replace("export default", "const worker =");
    let script = format!(
        "{body}\nworker.run({INPUT}).then((r) => process.stdout.write(JSON.stringify(r)));"
    );
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let output = Command::new("node").arg("-e").arg(&script).output()?;
        samples.push(ms(t));
        let printed = String::from_utf8_lossy(&output.stdout);
        let same: Value = serde_json::from_str(&printed).context("node printed JSON")?;
        if same != serde_json::from_str::<Value>(expected)? {
            bail!("node computed {printed}, the isolate {expected}");
        }
        // A breath between process launches, so each baseline run starts on
        // a quiet machine; this is a synchronous benchmark loop, not async code.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(Some(Summary::of(&samples)))
}
