//! The warm pool: pre-spawned sandboxes with pre-warmed isolates, assigned
//! to one tenant each, refilled in the background, reaped when idle, and
//! held to the per-tenant budgets.

mod sandbox_support;

use std::sync::Arc;
use std::time::Duration;

use edge_engine::InvocationValue;
use edge_engine::NoHostFunctions;
use edge_sandbox::LoadError;
use sandbox_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_tenant_gets_a_warm_sandbox_with_a_prewarmed_isolate_and_the_pool_refills() {
    let supervisor = supervisor().await;
    assert!(
        supervisor.wait_warm(1, Duration::from_secs(30)).await,
        "the pool fills"
    );
    let loaded = supervisor
        .load("fresh", &worker(ADDER), limits(64))
        .await
        .expect("loads");
    println!(
        "first load of a never-seen Worker: placement {:.3} ms, load {:.2} ms",
        loaded.placement_ms, loaded.load_ms
    );
    assert!(
        loaded.took_warm_sandbox,
        "no process start on the request path"
    );
    assert!(
        loaded.prewarmed_isolate,
        "no isolate creation on the request path"
    );
    assert!(
        supervisor.wait_warm(1, Duration::from_secs(30)).await,
        "the pool refills"
    );
    let stats = supervisor.stats();
    println!("{stats:?}");
    assert_eq!((stats.assigned, stats.warm, stats.isolates), (1, 1, 1));
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_share_a_sandbox_process() {
    let supervisor = supervisor().await;
    let a1 = supervisor
        .load("a", &worker(ADDER), limits(32))
        .await
        .expect("loads");
    let b = supervisor
        .load("b", &worker(ADDER), limits(32))
        .await
        .expect("loads");
    let a2 = supervisor
        .load(
            "a",
            &worker("export default { async run() { return 'two'; } };"),
            limits(32),
        )
        .await
        .expect("loads");
    assert_ne!(a1.handle.sandbox_pid(), b.handle.sandbox_pid());
    assert_eq!(
        a1.handle.sandbox_pid(),
        a2.handle.sandbox_pid(),
        "a tenant's Workers share its sandbox"
    );
    let outcome = supervisor
        .invoke(&a2.handle, &call("run", "null"), Arc::new(NoHostFunctions))
        .await;
    assert_eq!(outcome.result, Ok(InvocationValue::Json("\"two\"".into())));
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sandboxes_are_reaped() {
    let mut config = config();
    config.idle_timeout = Duration::from_millis(200);
    let supervisor = supervisor_with(config).await;
    let loaded = supervisor
        .load("brief", &worker(ADDER), limits(32))
        .await
        .expect("loads");
    supervisor.unload(&loaded.handle).await;
    let mut reaped = false;
    for _ in 0..100 {
        if supervisor.stats().assigned == 0 && !loaded.handle.is_live() {
            reaped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reaped, "{:?}", supervisor.stats());
    assert_eq!(supervisor.stats().died, 0, "reaping is not a death");
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_cannot_commit_more_than_its_budgets() {
    let mut config = config();
    config.sandbox_overhead = 64 << 20;
    config.memory_per_tenant = 200 << 20;
    config.memory_per_isolate = 128 << 20;
    let supervisor = supervisor_with(config).await;
    supervisor
        .load("thrifty", &worker(ADDER), limits(64))
        .await
        .expect("first fits");
    supervisor
        .load("thrifty", &worker(ADDER), limits(64))
        .await
        .expect("second fits");
    let refused = supervisor.load("thrifty", &worker(ADDER), limits(64)).await;
    println!("third: {refused:?}");
    assert!(matches!(refused, Err(LoadError::NoCapacity(_))));
    let too_big = supervisor.load("other", &worker(ADDER), limits(256)).await;
    assert!(
        matches!(too_big, Err(LoadError::Worker(ref e)) if e.kind == edge_engine::ErrorKind::BadRequest)
    );
    supervisor
        .load("other", &worker(ADDER), limits(64))
        .await
        .expect("other tenants are unaffected");
    supervisor.shutdown().await;
}
