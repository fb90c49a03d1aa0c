//! Overload on a real gateway process with tiny limits, in front of the real
//! `edgectl dev` cluster: ten times more concurrent slow requests than the
//! limits admit. The rest are shed with RESOURCE_EXHAUSTED at once, admitted
//! ones succeed, nobody waits past a deadline, and the gateway's memory
//! stays bounded over several rounds.

use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use edge_proto::v1 as pb;
use edge_proto::v1::gateway_client::GatewayClient;
use edge_tests::fleet::DevCluster;
use edge_tests::fleet::GatewayProcess;
use edge_tests::fleet::Meta;
use edge_tests::fleet::RawTransport;
use edge_tests::fleet::invoke_call;
use edge_tests::fleet::json_of;
use edge_tests::fleet::raw_gateway_client;
use edge_tests::fleet::ts_bundle;

/// The gateway's global concurrency and per-tenant in-flight cap.
const LIMIT: usize = 4;
/// Concurrent requests per round: ten times the limit.
const BURST: usize = 10 * LIMIT;
const ROUNDS: usize = 5;
/// How long the slow Worker waits on a timer.
const SLOW_MS: u64 = 300;
/// Every request's deadline.
const DEADLINE: Duration = Duration::from_secs(10);
/// Slack for a reply after its deadline passed (scheduling on 2 busy cores).
const DEADLINE_SLACK: Duration = Duration::from_secs(1);
/// Generous bound on the gateway's resident memory.
const RSS_LIMIT: u64 = 256 << 20;
/// How much it may grow between the first and the last round.
const RSS_GROWTH_LIMIT: u64 = 64 << 20;

const SLOW: &str = r#"
export default {
  async slow(ms: number): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return "done";
  },
};
"#;

#[derive(Debug)]
struct Outcome {
    code: tonic::Code,
    message: String,
    took: Duration,
}

/// One request on `client`'s connection; the raw client leaves the
/// deadline to the server.
async fn slow_call(mut client: GatewayClient<RawTransport>, meta: Meta, ms: u64) -> Outcome {
    let started = Instant::now();
    let result = client
        .invoke(meta.request(invoke_call("slow", "slow", &ms.to_string())))
        .await;
    let took = started.elapsed();
    match result {
        Ok(response) => {
            assert_eq!(json_of(&response.into_inner()), r#""done""#);
            Outcome {
                code: tonic::Code::Ok,
                message: String::new(),
                took,
            }
        }
        Err(status) => Outcome {
            code: status.code(),
            message: status.message().to_owned(),
            took,
        },
    }
}

async fn round(gateway: &Arc<GatewayProcess>, meta: &Meta) -> Vec<Outcome> {
    // One client: the burst shares one HTTP/2 connection, so the figures
    // are the gateway's, not connection set-up's.
    let client = raw_gateway_client(&gateway.addr);
    let tasks: Vec<_> = (0..BURST)
        .map(|_| tokio::spawn(slow_call(client.clone(), meta.clone(), SLOW_MS)))
        .collect();
    let mut outcomes = Vec::with_capacity(BURST);
    for task in tasks {
        outcomes.push(task.await.expect("request task"));
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_times_the_limit_is_shed_quickly_and_memory_stays_bounded() {
    let cluster = DevCluster::start().await;
    let info = cluster.info.clone();
    info.gateway()
        .put_worker(info.tenant().request(pb::PutWorkerRequest {
            worker_id: "slow".into(),
            bundle: Some(ts_bundle(SLOW)),
            limits: None,
            grants: None,
        }))
        .await
        .expect("PutWorker");
    let limit = LIMIT.to_string();
    let gateway = Arc::new(
        cluster
            .spawn_gateway(&["--max-concurrency", &limit, "--tenant-in-flight", &limit])
            .await,
    );
    let meta = info.tenant().region("eu").timeout(DEADLINE);
    // Warm: the Worker is loaded before the rounds measure anything.
    let warm = slow_call(raw_gateway_client(&gateway.addr), meta.clone(), 1).await;
    assert_eq!(warm.code, tonic::Code::Ok, "{warm:?}");

    let mut rss = Vec::new();
    for n in 0..ROUNDS {
        let outcomes = round(&gateway, &meta).await;
        let (ok, shed): (Vec<&Outcome>, Vec<&Outcome>) =
            outcomes.iter().partition(|o| o.code == tonic::Code::Ok);
        for o in &outcomes {
            assert!(
                matches!(o.code, tonic::Code::Ok | tonic::Code::ResourceExhausted),
                "round {n}: neither served nor shed: {o:?}"
            );
            assert!(
                o.took < DEADLINE + DEADLINE_SLACK,
                "round {n}: waited past the deadline: {o:?}"
            );
        }
        assert!(!ok.is_empty(), "round {n}: nothing admitted");
        // At most LIMIT run at once, and each holds its slot for SLOW_MS, so
        // of BURST requests sent together most must be shed.
        assert!(
            shed.len() >= BURST / 2,
            "round {n}: only {} of {BURST} shed",
            shed.len()
        );
        assert!(
            shed.iter().all(|o| !o.message.is_empty()),
            "a shed request says why"
        );
        let mut shed_ms: Vec<Duration> = shed.iter().map(|o| o.took).collect();
        shed_ms.sort();
        let median = shed_ms[shed_ms.len() / 2];
        // Shed at once, not queued behind a Worker that takes SLOW_MS: the
        // typical shed reply comes before the admitted requests are served
        // (a bound relative to them, since a busy machine slows both).
        let slowest_admitted = ok.iter().map(|o| o.took).max().expect("some admitted");
        assert!(
            slowest_admitted >= Duration::from_millis(SLOW_MS),
            "round {n}: an admitted request took {slowest_admitted:?}, less than the Worker's timer"
        );
        assert!(
            median < slowest_admitted,
            "round {n}: median shed reply took {median:?}, the slowest admitted one {slowest_admitted:?}"
        );
        eprintln!(
            "round {n}: {} admitted, {} shed, median shed {median:?}, slowest shed {:?}",
            ok.len(),
            shed.len(),
            shed_ms.last().expect("some shed")
        );
        let bytes = gateway.rss_bytes();
        assert!(
            bytes < RSS_LIMIT,
            "round {n}: gateway RSS {} MiB",
            bytes >> 20
        );
        rss.push(bytes);
    }
    let growth = rss.last().unwrap().saturating_sub(rss[0]);
    assert!(
        growth < RSS_GROWTH_LIMIT,
        "gateway RSS grew by {} MiB over {ROUNDS} rounds: {rss:?}",
        growth >> 20
    );

    short_deadlines_are_answered_in_time(&gateway, &meta).await;

    // Once the burst is over, the gateway serves normally again.
    let after = slow_call(raw_gateway_client(&gateway.addr), meta.clone(), 1).await;
    assert_eq!(after.code, tonic::Code::Ok, "{after:?}");
    Arc::into_inner(gateway)
        .expect("no request holds the gateway")
        .stop()
        .await;
    cluster.stop().await;
}

/// A Worker slower than the deadline: the reply (a Worker timeout or
/// DEADLINE_EXCEEDED) still comes by the deadline, not when the Worker would end.
async fn short_deadlines_are_answered_in_time(gateway: &Arc<GatewayProcess>, meta: &Meta) {
    let short = Duration::from_millis(500);
    let meta = meta.clone().timeout(short);
    for _ in 0..3 {
        let mut client = raw_gateway_client(&gateway.addr);
        let started = Instant::now();
        let result = client
            .invoke(meta.request(invoke_call("slow", "slow", "5000")))
            .await;
        let took = started.elapsed();
        assert!(
            took < short + DEADLINE_SLACK,
            "a {short:?} deadline answered after {took:?}"
        );
        match result {
            Ok(response) => {
                let outcome = response.into_inner();
                let error = edge_tests::fleet::error_of(&outcome).unwrap_or_else(|| {
                    panic!("a 5 s Worker finished within {short:?}: {outcome:?}")
                });
                assert_eq!(error.kind(), pb::ErrorKind::Timeout, "{error:?}");
            }
            // The contract: a deadline that passes is DEADLINE_EXCEEDED, whoever noticed.
            Err(status) => assert_eq!(
                status.code(),
                tonic::Code::DeadlineExceeded,
                "a {short:?} deadline on a 5 s Worker: {status:?}"
            ),
        }
    }
}
