//! The fleet end to end, on the real `edgectl dev` cluster: a TypeScript
//! Worker is put through the gateway, invoked by `call` and by `fetch` from
//! clients of each region, run inline with and without an id, its console
//! output streamed; then the billing export counts exactly the unique
//! Workers, however many invocations, nodes and regions served them.

use std::time::Duration;
use std::time::SystemTime;

use edge_proto::UtcDay;
use edge_proto::v1 as pb;
use edge_tests::fleet::DevCluster;
use edge_tests::fleet::DevInfo;
use edge_tests::fleet::Meta;
use edge_tests::fleet::Served;
use edge_tests::fleet::assert_billed_exactly;
use edge_tests::fleet::create_tenant;
use edge_tests::fleet::http_of;
use edge_tests::fleet::inline_call;
use edge_tests::fleet::invoke_call;
use edge_tests::fleet::invoke_fetch;
use edge_tests::fleet::json_of;
use edge_tests::fleet::ts_bundle;

/// The agent Worker: typed input, console output, a method and a fetch handler.
const HELLO: &str = r#"
interface Greeting { name: string; tag?: string }

export default {
  async greet(input: Greeting): Promise<string> {
    const tag: string = input.tag ?? "none";
    console.log(`greeting ${input.name} tag=${tag}`);
    return `hello ${input.name}`;
  },
  async fetch(request: Request): Promise<Response> {
    const url: URL = new URL(request.url);
    return new Response(`path ${url.pathname}`, { headers: { "content-type": "text/plain" } });
  },
};
"#;

/// A Worker run inline; `n` makes distinct code.
fn inline_worker(n: u32) -> pb::Bundle {
    ts_bundle(&format!(
        "export default {{ async add(x: number): Promise<number> {{ return x + {n}; }} }};"
    ))
}

/// How long billing may take to ship from the nodes' outboxes and commit.
const BILLING_LIMIT: Duration = Duration::from_secs(60);
/// How long the billed count must then stay put.
const BILLING_HOLD: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_travels_the_fleet_and_is_billed_once() {
    let cluster = DevCluster::start().await;
    let info = cluster.info.clone();
    let since = UtcDay::of(SystemTime::now());
    let tenant = format!("e2e{}", rand::random::<u32>());
    let key = create_tenant(&info, &tenant).await;
    let me = Meta::key(&key);

    put_hello(&info, &me).await;
    let logs = tokio::spawn(logs_stream_with_the_worker_id(info.clone(), me.clone()));
    invoke_from_each_region(&info, &me).await;
    lat_lon_picks_the_nearest_region(&info, &me).await;
    inline_with_an_id_is_warm_the_second_time(&info, &me).await;
    inline_without_an_id_is_fresh_every_time(&info, &me).await;
    logs.await.expect("the log section passed");
    billing_export_is_admin_only(&info, &me).await;

    // hello (many invocations, 4 nodes, 2 regions) + inline "adder" + 2 one-offs.
    assert_billed_exactly(&info, &tenant, &since, 4, BILLING_LIMIT, BILLING_HOLD).await;
    cluster.stop().await;
}

async fn put_hello(info: &DevInfo, me: &Meta) {
    let put = info
        .gateway()
        .put_worker(me.request(pb::PutWorkerRequest {
            worker_id: "hello".into(),
            bundle: Some(ts_bundle(HELLO)),
            limits: None,
            grants: None,
        }))
        .await
        .expect("PutWorker hello")
        .into_inner();
    assert_eq!(put.code_hash.len(), 64, "a sha256 hex code hash");
    let list = info
        .gateway()
        .list_workers(me.request(pb::ListWorkersRequest {}))
        .await
        .expect("ListWorkers")
        .into_inner();
    assert_eq!(list.workers.len(), 1);
    assert_eq!(list.workers[0].worker_id, "hello");
    assert_eq!(list.workers[0].code_hash, put.code_hash);
}

async fn invoke_from_each_region(info: &DevInfo, me: &Meta) {
    let mut gateway = info.gateway();
    for region in ["eu", "us"] {
        let nodes = info.node_ids(region);
        let tagged = me.clone().region(region);
        for n in 0..3 {
            let input = format!(r#"{{"name":"{region}{n}"}}"#);
            let response = gateway
                .invoke(tagged.request(invoke_call("hello", "greet", &input)))
                .await
                .unwrap_or_else(|e| panic!("call from {region}: {e:?}"));
            let served = Served::of(response.metadata());
            assert_eq!(served.region, region, "call from {region}: {served:?}");
            assert!(nodes.contains(&served.node), "{served:?} not in {nodes:?}");
            assert!(!served.request_id.is_empty(), "no x-request-id");
            let outcome = response.into_inner();
            assert_eq!(json_of(&outcome), format!(r#""hello {region}{n}""#));
            assert!(
                outcome
                    .logs
                    .iter()
                    .any(|l| l.message.contains(&format!("greeting {region}{n}"))),
                "console output in the outcome: {:?}",
                outcome.logs
            );

            let response = gateway
                .invoke(tagged.request(invoke_fetch("hello", "https://agent.example/a/b")))
                .await
                .unwrap_or_else(|e| panic!("fetch from {region}: {e:?}"));
            let served = Served::of(response.metadata());
            assert_eq!(served.region, region, "fetch from {region}: {served:?}");
            assert!(nodes.contains(&served.node), "{served:?} not in {nodes:?}");
            let outcome = response.into_inner();
            let http = http_of(&outcome);
            assert_eq!(http.status, 200);
            assert_eq!(http.body, b"path /a/b");
        }
    }
}

async fn lat_lon_picks_the_nearest_region(info: &DevInfo, me: &Meta) {
    // New York is nearer Virginia, Paris nearer Frankfurt.
    for (lat, lon, region) in [(40.71, -74.0, "us"), (48.86, 2.35, "eu")] {
        let response = info
            .gateway()
            .invoke(me.clone().lat_lon(lat, lon).request(invoke_call(
                "hello",
                "greet",
                r#"{"name":"geo"}"#,
            )))
            .await
            .unwrap_or_else(|e| panic!("call from ({lat}, {lon}): {e:?}"));
        assert_eq!(Served::of(response.metadata()).region, region);
        assert_eq!(json_of(&response.into_inner()), r#""hello geo""#);
    }
}

async fn inline_with_an_id_is_warm_the_second_time(info: &DevInfo, me: &Meta) {
    let mut gateway = info.gateway();
    let tagged = me.clone().region("eu");
    let mut served = Vec::new();
    let mut warm = Vec::new();
    for x in [1, 2] {
        let response = gateway
            .run_inline(tagged.request(inline_call(
                "adder",
                inline_worker(100),
                "add",
                &x.to_string(),
            )))
            .await
            .expect("RunInline with an id");
        served.push(Served::of(response.metadata()));
        let outcome = response.into_inner();
        assert_eq!(json_of(&outcome), (100 + x).to_string());
        warm.push(outcome.stats.expect("stats").warm);
    }
    assert_eq!(
        served[0].node, served[1].node,
        "the same id stays on one node"
    );
    assert_eq!(warm, [false, true], "loaded once, then reused warm");
}

async fn inline_without_an_id_is_fresh_every_time(info: &DevInfo, me: &Meta) {
    let mut gateway = info.gateway();
    for x in [1, 2] {
        let outcome = gateway
            .run_inline(me.request(inline_call("", inline_worker(7), "add", &x.to_string())))
            .await
            .expect("RunInline without an id")
            .into_inner();
        assert_eq!(json_of(&outcome), (7 + x).to_string());
        assert!(
            !outcome.stats.expect("stats").warm,
            "a one-off never runs warm"
        );
    }
}

/// Subscribes to "hello"'s logs, then invokes it with a fresh marker until
/// the line arrives (a subscription reaches the nodes asynchronously).
async fn logs_stream_with_the_worker_id(info: DevInfo, me: Meta) {
    let mut stream = info
        .gateway()
        .stream_logs(me.request(pb::StreamLogsRequest {
            worker_id: "hello".into(),
        }))
        .await
        .expect("StreamLogs")
        .into_inner();
    let mut gateway = info.gateway();
    for attempt in 0..20 {
        let marker = format!("mark{attempt}x{}", rand::random::<u32>());
        let input = format!(r#"{{"name":"logs","tag":"{marker}"}}"#);
        gateway
            .invoke(me.request(invoke_call("hello", "greet", &input)))
            .await
            .expect("call for logs");
        let deadline = tokio::time::Instant::now() + Duration::from_millis(750);
        while let Ok(event) = tokio::time::timeout_at(deadline, stream.message()).await {
            let event = event
                .expect("a log event, not an error")
                .expect("the log stream stays open");
            assert_eq!(event.worker_id, "hello", "{event:?}");
            let line = event.line.as_ref().expect("a line");
            if line.message.contains(&marker) {
                assert!(
                    !event.node_id.is_empty() && !event.region.is_empty(),
                    "{event:?}"
                );
                assert!(
                    info.node_ids(&event.region).contains(&event.node_id),
                    "{event:?}"
                );
                assert_eq!(line.level, "log");
                return;
            }
        }
    }
    panic!("no log line with the marker arrived on StreamLogs");
}

async fn billing_export_is_admin_only(info: &DevInfo, me: &Meta) {
    let status = info
        .gateway()
        .export_billing(me.request(pb::ExportBillingRequest {
            from_day: String::new(),
            to_day: String::new(),
            detail: false,
        }))
        .await
        .expect_err("a tenant key may not export billing");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
}
