//! What the scenarios share: the Worker every benchmark runs (small, but it
//! does real work: hashing its input and mapping an array, so a round trip
//! is more than a no-op), the sandbox settings and the runtime.

use std::time::Instant;

use edge_engine::Bundle;
use edge_engine::Invocation;

pub const WORKER: &str = r#"
export default {
  async run(input) {
    let h = 0;
    for (const ch of JSON.stringify(input)) h = (h * 31 + ch.charCodeAt(0)) | 0;
    return { hash: h, items: input.items.map((x) => x * 2) };
  },
};
"#;

pub const INPUT: &str = r#"{"items":[1,2,3,4,5,6,7,8]}"#;

/// The benchmark Worker; `variant` makes a distinct Worker per value (as
/// different tenants' code would be) without changing what it does.
pub fn bundle(variant: Option<usize>) -> Bundle {
    match variant {
        None => Bundle::single("./bench.js", WORKER),
        Some(n) => Bundle::single("./bench.js", format!("{WORKER}\n// worker {n}\n")),
    }
}

/// The invocation every round trip sends.
pub fn call() -> Invocation {
    Invocation::Call {
        method: "run".into(),
        input_json: INPUT.into(),
    }
}

/// Milliseconds since `since`.
pub fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// The sandbox settings the sandbox scenarios share: one pre-warmed isolate
/// per sandbox and no tenant budget to run into.
pub fn sandbox_config() -> edge_sandbox::SandboxConfig {
    edge_sandbox::SandboxConfig {
        prewarmed_isolates: 1,
        memory_per_tenant: u64::MAX / 4,
        ..edge_sandbox::SandboxConfig::default()
    }
}

/// Runs a scenario on the two-thread runtime every sandbox scenario uses.
pub fn block_on<T>(
    scenario: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(scenario)
}
