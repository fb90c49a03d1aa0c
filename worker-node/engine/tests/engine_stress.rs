//! Hundreds of isolates created, used and disposed concurrently from several
//! threads; afterwards the process's resident memory must be back near where
//! it started (no isolate, context or thread leaks).

#![cfg(feature = "v8")]

use std::time::Duration;

use edge_engine::Bundle;
use edge_engine::Invocation;
use edge_engine::InvocationValue;
use edge_engine::Isolate;
use edge_engine::Limits;
use edge_engine::NoHostFunctions;
use edge_engine::V8;

const THREADS: usize = 4;
const ISOLATES_PER_THREAD: usize = 100;
/// How many isolates each thread keeps alive at once.
const LIVE_PER_THREAD: usize = 25;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn cycle(thread: usize) {
    let bundle = Bundle::single(
        "./main.js",
        "export default { run(n) { return Array.from({ length: 100 }, (_, i) => i * n).reduce((a, b) => a + b, 0); } };",
    );
    let limits = Limits {
        wall_time: Duration::from_secs(20),
        ..Limits::default()
    };
    let mut live = Vec::with_capacity(LIVE_PER_THREAD);
    for i in 0..ISOLATES_PER_THREAD {
        let mut isolate = Isolate::new(limits).expect("isolate");
        isolate.load(&bundle).expect("load");
        let n = (thread * 1000 + i) as u64;
        let outcome = isolate.invoke(
            &Invocation::Call {
                method: "run".into(),
                input_json: n.to_string(),
            },
            &NoHostFunctions,
        );
        assert_eq!(
            outcome.result,
            Ok(InvocationValue::Json((4950 * n).to_string()))
        );
        live.push(isolate);
        if live.len() == LIVE_PER_THREAD {
            live.clear();
        }
    }
}

/// Runs `ROUNDS` rounds of every thread churning its isolates at once.
fn churn() {
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            scope.spawn(move || cycle(t));
        }
    });
}

const ROUNDS: usize = 3;

#[test]
fn hundreds_of_isolates_churn_concurrently_without_leaking() {
    // Warm-up: V8 itself and the allocator's high-water mark at the peak of
    // one round (100 live isolates) belong to the baseline; what the later
    // rounds leave behind is what a leak would show.
    let v8 = V8::get().expect("V8 loads");
    churn();
    let contexts_before = v8.context_count();
    let threads_before = thread_count();
    let resident_before = resident_bytes();

    for _ in 0..ROUNDS {
        churn();
    }

    let resident_after = resident_bytes();
    let grown_mib = (resident_after as f64 - resident_before as f64) / (1024.0 * 1024.0);
    println!(
        "{} isolates over {THREADS} threads in {ROUNDS} rounds: resident {:.1} MiB before, {:.1} MiB after ({grown_mib:+.1} MiB)",
        ROUNDS * THREADS * ISOLATES_PER_THREAD,
        resident_before as f64 / 1048576.0,
        resident_after as f64 / 1048576.0,
    );
    assert_eq!(
        v8.context_count(),
        contexts_before,
        "every context was freed"
    );
    // `thread::scope` returns when the closures end; their OS threads may
    // still be exiting for a moment, so wait (bounded) for the count to settle.
    let settled = (0..200).any(|_| {
        let settled = thread_count() <= threads_before;
        if !settled {
            // A plain thread waiting on the OS, not async code.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(10));
        }
        settled
    });
    assert!(
        settled,
        "isolate threads were joined: {} now, {threads_before} before",
        thread_count()
    );
    // An isolate costs about 1 MiB resident: leaking even 3% of these 1,200
    // would add 36 MiB. Allocator noise stays well below that.
    assert!(
        grown_mib < 32.0,
        "resident memory grew by {grown_mib:.1} MiB"
    );
}
