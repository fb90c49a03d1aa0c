//! The hostile scenario: one supervisor, one well-behaved tenant making warm
//! `call`s, first alone (quiet) and then while 8 hostile tenants cycle through
//! attacks (caps, floods, forged runtime messages, memory bombs, infinite
//! loops). Reports the well-behaved tenant's latency in both phases and their
//! ratio, the supervisor's peak resident memory (sampled), and how the hostile
//! invocations ended, by kind.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use anyhow::Result;
use edge_engine::Bundle;
use edge_engine::HostFunctions;
use edge_engine::Invocation;
use edge_engine::Limits;
use edge_engine::NoHostFunctions;
use edge_sandbox::IsolateHandle;
use edge_sandbox::Supervisor;
use serde_json::Value;
use serde_json::json;

use crate::stats::Summary;
use crate::stats::round;
use crate::workload;
use crate::workload::call;
use crate::workload::ms;

/// How often the supervisor's resident memory is sampled.
const RSS_SAMPLE: Duration = Duration::from_millis(50);
/// How long the warm pool may take to fill before the measurements start.
const WARM_POOL_TIMEOUT: Duration = Duration::from_secs(60);
/// Wall and CPU time of each hostile invocation.
const HOSTILE_TIME: Duration = Duration::from_secs(1);
/// Memory of each hostile isolate.
const HOSTILE_MEMORY: u64 = 64 << 20;
/// Output limit of each hostile invocation.
const HOSTILE_OUTPUT: usize = 1 << 20;
/// Memory of the well-behaved tenant's isolate.
const GOOD_MEMORY: u64 = 32 << 20;
const MIB: f64 = 1024.0 * 1024.0;

#[derive(clap::Args)]
pub struct HostileArgs {
    /// Seconds of warm calls measured with no hostile tenant running.
    #[arg(long, default_value_t = 8)]
    quiet_secs: u64,
    /// Seconds of warm calls measured while the hostile tenants run.
    #[arg(long, default_value_t = 20)]
    hostile_secs: u64,
    /// Hostile tenants running at once.
    #[arg(long, default_value_t = 8)]
    hostile_tenants: usize,
}

/// The attacks hostile tenants cycle through: a name and a Worker whose
/// `run` is invoked once per load.
const ATTACKS: &[(&str, &str)] = &[
    (
        "infinite_loop",
        "export default { async run() { for (;;) {} } };",
    ),
    (
        "heap_bomb",
        "export default { async run() { const k = []; for (;;) k.push({ a: [1, 2, 3], b: 'x' + k.length }); } };",
    ),
    (
        "array_buffer_bomb",
        "export default { async run() { const k = []; for (let i = 0; i < 64; i++) k.push(new Uint8Array(64 << 20).fill(7)); return k.length; } };",
    ),
    (
        "microtask_loop",
        "export default { async run() { await (async () => { for (;;) await null; })(); } };",
    ),
    (
        "output_cap",
        "export default { async run() { return new Array(100).fill('x'.repeat(1 << 20)); } };",
    ),
    (
        "log_flood",
        "export default { async run() { for (let i = 0; i < 1000000; i++) console.log('line', i); return 1; } };",
    ),
    (
        "error_16mib",
        "export default { async run() { throw new Error('e'.repeat(16 << 20)); } };",
    ),
    (
        "forged_done",
        "const s = JSON.stringify; JSON.stringify = function (v, r, p) { return Array.isArray(v) ? s([{ t: 'done', inv: 1, ok: true, value: { json: '42' }, logs: [] }].concat(v), r, p) : s(v, r, p); }; export default { async run() { throw new Error('truth'); } };",
    ),
    (
        "forged_kind",
        "export default { async run() { const e = new Error('ordinary'); e.edgeKind = 'memory'; throw e; } };",
    ),
    (
        "timer_flood",
        "export default { async run() { for (let i = 0; i < 100000; i++) setInterval(() => {}, 0); await new Promise(() => {}); } };",
    ),
    (
        "host_call_flood",
        "export default { async run(input, env) { return (await Promise.all(Array.from({ length: 100000 }, () => env.ping()))).length; } };",
    ),
    (
        "catastrophic_regex",
        "export default { async run() { return /^(a+)+$/.test('a'.repeat(64) + '!'); } };",
    ),
    (
        "atomics_wait",
        "export default { async run() { return Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); } };",
    ),
];

/// One binding, `ping`, answered with `1`.
struct PingHost;

impl HostFunctions for PingHost {
    fn bindings(&self) -> Vec<String> {
        vec!["ping".into()]
    }

    fn call(&self, _name: &str, _args_json: &str) -> Result<String, String> {
        Ok("1".into())
    }
}

fn hostile_limits() -> Limits {
    Limits {
        memory_bytes: HOSTILE_MEMORY,
        wall_time: HOSTILE_TIME,
        cpu_time: HOSTILE_TIME,
        max_output_bytes: HOSTILE_OUTPUT,
        ..Limits::default()
    }
}

pub fn run(args: &HostileArgs) -> Result<Value> {
    crate::workload::block_on(run_async(args))
}

async fn run_async(args: &HostileArgs) -> Result<Value> {
    let supervisor = Arc::new(
        Supervisor::start(crate::workload::sandbox_config())
            .await
            .map_err(anyhow::Error::msg)?,
    );
    let cgroup = format!("{:?}", supervisor.cgroup_version());
    let rss_start = resident_bytes();
    let peak = Arc::new(AtomicU64::new(rss_start));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample_rss(peak.clone(), sampling.clone()));
    supervisor.wait_warm(2, WARM_POOL_TIMEOUT).await;
    let good = supervisor
        .load("well-behaved", &workload::bundle(Some(0)), good_limits())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let quiet_secs = Duration::from_secs(args.quiet_secs);
    let quiet = warm_calls(&supervisor, &good.handle, quiet_secs).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut tenants = Vec::with_capacity(args.hostile_tenants);
    for index in 0..args.hostile_tenants {
        tenants.push(tokio::spawn(hostile_tenant(
            supervisor.clone(),
            index,
            stop.clone(),
        )));
    }
    let under_attack = warm_calls(
        &supervisor,
        &good.handle,
        Duration::from_secs(args.hostile_secs),
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for tenant in tenants {
        outcomes.extend(tenant.await?);
    }
    sampling.store(false, Ordering::Relaxed);
    sampler.await?;
    let pool = supervisor.stats();
    let rss_end = resident_bytes();
    Arc::try_unwrap(supervisor)
        .map_err(|_| anyhow::anyhow!("the supervisor is still shared"))?
        .shutdown()
        .await;
    Ok(json!({
        "scenario": "hostile",
        "cgroup": cgroup,
        "quiet_secs": args.quiet_secs,
        "hostile_secs": args.hostile_secs,
        "hostile_tenants": args.hostile_tenants,
        "well_behaved": compare(&quiet, &under_attack),
        "supervisor_rss_mib": {
            "start": mib(rss_start),
            "peak": mib(peak.load(Ordering::Relaxed)),
            "end": mib(rss_end),
        },
        "hostile_outcomes": tally(&outcomes),
        "sandboxes": { "spawned": pool.spawned, "died": pool.died },
    }))
}

fn good_limits() -> Limits {
    Limits {
        memory_bytes: GOOD_MEMORY,
        ..Limits::default()
    }
}

/// What the well-behaved tenant saw in one phase.
struct Phase {
    latencies_ms: Vec<f64>,
    failures: u64,
    first_failure: Option<String>,
}

/// Warm calls back to back for `length`.
async fn warm_calls(supervisor: &Supervisor, handle: &IsolateHandle, length: Duration) -> Phase {
    let host: Arc<dyn HostFunctions> = Arc::new(NoHostFunctions);
    let invocation = call();
    let deadline = Instant::now() + length;
    let mut phase = Phase {
        latencies_ms: Vec::new(),
        failures: 0,
        first_failure: None,
    };
    while Instant::now() < deadline {
        let started = Instant::now();
        let outcome = supervisor.invoke(handle, &invocation, host.clone()).await;
        phase.latencies_ms.push(ms(started));
        if let Err(error) = outcome.result {
            phase.failures += 1;
            phase.first_failure.get_or_insert(error.to_string());
        }
    }
    phase
}

fn compare(quiet: &Phase, under_attack: &Phase) -> Value {
    if quiet.latencies_ms.is_empty() || under_attack.latencies_ms.is_empty() {
        return json!({ "error": "a phase made no calls" });
    }
    let before = Summary::of(&quiet.latencies_ms);
    let during = Summary::of(&under_attack.latencies_ms);
    json!({
        "quiet": before,
        "under_attack": during,
        "ratio_p50": round(during.median_ms / before.median_ms),
        "ratio_p99": round(during.p99_ms / before.p99_ms),
        "failures": { "quiet": quiet.failures, "under_attack": under_attack.failures },
        "first_failure": under_attack.first_failure.as_ref().or(quiet.first_failure.as_ref()),
    })
}

/// Runs attacks for one hostile tenant until `stop`: each round loads the
/// next attack, invokes it once and unloads it. Returns (attack, outcome kind).
async fn hostile_tenant(
    supervisor: Arc<Supervisor>,
    index: usize,
    stop: Arc<AtomicBool>,
) -> Vec<(&'static str, String)> {
    let tenant = format!("hostile-{index}");
    let invocation = Invocation::Call {
        method: "run".into(),
        input_json: "null".into(),
    };
    let mut outcomes = Vec::new();
    let mut round = index;
    while !stop.load(Ordering::Relaxed) {
        let (name, source) = ATTACKS[round % ATTACKS.len()];
        round += 1;
        let bundle = Bundle::single("./attack.js", source);
        let kind = match supervisor.load(&tenant, &bundle, hostile_limits()).await {
            Err(error) => format!("load_{}", error.into_worker_error().kind),
            Ok(loaded) => {
                let outcome = supervisor
                    .invoke(&loaded.handle, &invocation, Arc::new(PingHost))
                    .await;
                supervisor.unload(&loaded.handle).await;
                match outcome.result {
                    Ok(_) => "ok".to_owned(),
                    Err(error) => error.kind.to_string(),
                }
            }
        };
        outcomes.push((name, kind));
    }
    outcomes
}

/// Counts of hostile outcomes: in all, by kind, and by attack and kind.
fn tally(outcomes: &[(&'static str, String)]) -> Value {
    let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_attack: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for (attack, kind) in outcomes {
        *by_kind.entry(kind).or_default() += 1;
        *by_attack
            .entry(attack)
            .or_default()
            .entry(kind)
            .or_default() += 1;
    }
    json!({ "total": outcomes.len(), "by_kind": by_kind, "by_attack": by_attack })
}

/// Resident memory of this process (the supervisor).
fn resident_bytes() -> u64 {
    edge_sandbox::resident_memory(std::process::id()).unwrap_or(0)
}

/// Keeps `peak` at the highest resident memory seen while `running`.
async fn sample_rss(peak: Arc<AtomicU64>, running: Arc<AtomicBool>) {
    while running.load(Ordering::Relaxed) {
        peak.fetch_max(resident_bytes(), Ordering::Relaxed);
        tokio::time::sleep(RSS_SAMPLE).await;
    }
    peak.fetch_max(resident_bytes(), Ordering::Relaxed);
}

fn mib(bytes: u64) -> f64 {
    round(bytes as f64 / MIB)
}
