//! The loaded-Worker cache over real sandboxes, and billing load events.

#[path = "../sandbox/tests/sandbox_support/mod.rs"]
mod sandbox_support;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::SystemTime;

use edge_engine::InvocationValue;
use edge_engine::NoHostFunctions;
use sandbox_support::*;
use worker_node::billing::LoadEvent;
use worker_node::billing::LoadSink;
use worker_node::billing::SinkFuture;
use worker_node::cache::CacheConfig;
use worker_node::cache::WorkerKey;
use worker_node::cache::Workers;
use worker_node::cache::code_hash;

#[derive(Default)]
struct Recorded(Mutex<Vec<LoadEvent>>);

impl LoadSink for Recorded {
    fn first_load_today(&self, event: LoadEvent) -> SinkFuture<'_> {
        self.0.lock().unwrap().push(event);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_is_loaded_once_and_billed_once_per_utc_day() {
    let supervisor = Arc::new(supervisor().await);
    let sink = Arc::new(Recorded::default());
    // 2026-03-01T23:59:00Z, then across midnight.
    let now = Arc::new(AtomicU64::new(1_772_409_540));
    let clock_now = now.clone();
    let workers = Workers::new(supervisor.clone(), CacheConfig::default(), sink.clone())
        .with_clock(Arc::new(move || {
            SystemTime::UNIX_EPOCH + Duration::from_secs(clock_now.load(Ordering::Relaxed))
        }));
    let v1 = worker(ADDER);
    let run = |n: u32| call("run", &n.to_string());
    let mut loads = Vec::new();
    for n in 0..3 {
        let outcome = workers
            .invoke(
                "acme",
                "adder",
                &v1,
                limits(64),
                &run(n),
                Arc::new(NoHostFunctions),
            )
            .await;
        assert_eq!(
            outcome.result,
            Ok(InvocationValue::Json((n + 1).to_string()))
        );
        loads.push(outcome.stats.load_ms);
    }
    println!("load_ms per call: {loads:?}");
    assert!(
        loads[0] > 0.0 && loads[1] == 0.0 && loads[2] == 0.0,
        "loaded once: {loads:?}"
    );
    assert_eq!(sink.0.lock().unwrap().len(), 1);

    now.fetch_add(120, Ordering::Relaxed); // 2026-03-02
    let outcome = workers
        .invoke(
            "acme",
            "adder",
            &v1,
            limits(64),
            &run(9),
            Arc::new(NoHostFunctions),
        )
        .await;
    assert_eq!(outcome.stats.load_ms, 0.0, "still loaded");

    // Same tenant and id, other code: another Worker.
    let v2 = worker("export default { async run(n) { return n * 2; } };");
    let outcome = workers
        .invoke(
            "acme",
            "adder",
            &v2,
            limits(64),
            &run(21),
            Arc::new(NoHostFunctions),
        )
        .await;
    assert_eq!(outcome.result, Ok(InvocationValue::Json("42".into())));
    assert!(outcome.stats.load_ms > 0.0);
    assert_eq!(workers.len(), 2);

    let events = sink.0.lock().unwrap().clone();
    for event in &events {
        println!("{event:?}");
    }
    let days: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.day.as_str(), &e.code_hash[..8]))
        .collect();
    assert_eq!(
        days,
        [
            ("2026-03-01", &code_hash(&v1)[..8]),
            ("2026-03-02", &code_hash(&v1)[..8]),
            ("2026-03-02", &code_hash(&v2)[..8])
        ]
    );
    let mut keys: Vec<String> = events
        .iter()
        .map(|e| e.unique_worker().key(e.day.as_str()))
        .collect();
    keys.dedup();
    assert_eq!(keys.len(), 3, "each event is its own unique Worker");
    drop(workers);
    Arc::try_unwrap(supervisor)
        .ok()
        .expect("sole owner")
        .shutdown()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_least_recently_used_worker_is_evicted_under_the_memory_budget() {
    let supervisor = Arc::new(supervisor().await);
    // Room for two Workers: each is charged 8 MiB plus its heap.
    let config = CacheConfig {
        memory_budget: 2 * (8 << 20) + (6 << 20),
        isolate_overhead: 8 << 20,
    };
    let workers = Workers::new(supervisor.clone(), config, Arc::new(Recorded::default()));
    let bundle = |n: u32| {
        worker(&format!(
            "export default {{ async run() {{ return {n}; }} }};"
        ))
    };
    let key = |n: u32| WorkerKey {
        tenant: "t".into(),
        worker_id: format!("w{n}"),
        code_hash: code_hash(&bundle(n)),
    };
    for n in [1, 2, 1, 3] {
        let outcome = workers
            .invoke(
                "t",
                &format!("w{n}"),
                &bundle(n),
                limits(32),
                &call("run", "null"),
                Arc::new(NoHostFunctions),
            )
            .await;
        assert_eq!(outcome.result, Ok(InvocationValue::Json(n.to_string())));
    }
    println!(
        "charged {} MiB for {} Workers",
        workers.charged_bytes() >> 20,
        workers.len()
    );
    assert!(workers.contains(&key(1)) && workers.contains(&key(3)));
    assert!(!workers.contains(&key(2)), "w2 was the least recently used");
    assert_eq!(
        supervisor.stats().isolates,
        2,
        "the evicted Worker's isolate is gone"
    );
    drop(workers);
    Arc::try_unwrap(supervisor)
        .ok()
        .expect("sole owner")
        .shutdown()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sandbox_makes_room_by_unloading_the_tenants_least_recently_used_worker() {
    let mut config = config();
    config.max_isolates_per_sandbox = 2;
    config.max_sandboxes_per_tenant = 1;
    let supervisor = Arc::new(supervisor_with(config).await);
    let workers = Workers::new(
        supervisor.clone(),
        CacheConfig::default(),
        Arc::new(Recorded::default()),
    );
    for n in 1..=3 {
        let source = format!("export default {{ async run() {{ return {n}; }} }};");
        let outcome = workers
            .invoke(
                "t",
                &format!("w{n}"),
                &worker(&source),
                limits(32),
                &call("run", "null"),
                Arc::new(NoHostFunctions),
            )
            .await;
        assert_eq!(outcome.result, Ok(InvocationValue::Json(n.to_string())));
    }
    assert_eq!(workers.len(), 2);
    assert_eq!(supervisor.stats().assigned, 1);
    drop(workers);
    Arc::try_unwrap(supervisor)
        .ok()
        .expect("sole owner")
        .shutdown()
        .await;
}
