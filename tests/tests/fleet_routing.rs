//! Geo routing on the real `edgectl dev` cluster: a client tagged `eu` is
//! served in eu; with every eu worker node killed -9, its idempotent calls
//! fail over to us with no error visible; with the nodes back, traffic
//! returns to eu.

use std::time::Duration;
use std::time::Instant;

use edge_proto::v1 as pb;
use edge_tests::fleet::DevCluster;
use edge_tests::fleet::DevInfo;
use edge_tests::fleet::Meta;
use edge_tests::fleet::Served;
use edge_tests::fleet::invoke_call;
use edge_tests::fleet::json_of;
use edge_tests::fleet::ts_bundle;

const ECHO: &str = "export default { async echo(x: number): Promise<number> { return x; } };";
/// Calls made while the eu nodes are dead, each of which must succeed.
const FAILOVER_CALLS: usize = 40;
/// Pause between them, so the loop spans the control plane noticing the deaths.
const FAILOVER_PAUSE: Duration = Duration::from_millis(100);
/// How long traffic may take to return to eu once its nodes are back.
const RETURN_LIMIT: Duration = Duration::from_secs(30);
/// Each call's deadline.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One idempotent eu-tagged call; returns who served it.
async fn echo(info: &DevInfo, meta: &Meta, x: usize) -> Result<Served, tonic::Status> {
    let response = info
        .gateway()
        .invoke(meta.request(invoke_call("echo", "echo", &x.to_string())))
        .await?;
    let served = Served::of(response.metadata());
    assert_eq!(json_of(&response.into_inner()), x.to_string(), "{served:?}");
    Ok(served)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eu_traffic_fails_over_to_us_and_comes_back() {
    let mut cluster = DevCluster::start().await;
    let info = cluster.info.clone();
    let eu_client = info
        .tenant()
        .region("eu")
        .idempotent()
        .timeout(CALL_TIMEOUT);
    info.gateway()
        .put_worker(info.tenant().request(pb::PutWorkerRequest {
            worker_id: "echo".into(),
            bundle: Some(ts_bundle(ECHO)),
            limits: None,
            grants: None,
        }))
        .await
        .expect("PutWorker");

    // A client tagged eu lands in eu (and us-tagged in us).
    for x in 0..3 {
        let served = echo(&info, &eu_client, x).await.expect("eu call");
        assert_eq!(served.region, "eu", "{served:?}");
        assert!(info.node_ids("eu").contains(&served.node), "{served:?}");
    }
    let us_client = info.tenant().region("us").idempotent();
    assert_eq!(
        echo(&info, &us_client, 0).await.expect("us call").region,
        "us"
    );

    for node in info.node_ids("eu") {
        cluster.kill9(&node).await;
    }
    let started = Instant::now();
    for x in 0..FAILOVER_CALLS {
        let served = echo(&info, &eu_client, x)
            .await
            .unwrap_or_else(|e| panic!("idempotent call {x} failed during failover: {e:?}"));
        assert_eq!(served.region, "us", "call {x} with eu down: {served:?}");
        assert!(info.node_ids("us").contains(&served.node), "{served:?}");
        tokio::time::sleep(FAILOVER_PAUSE).await;
    }
    eprintln!(
        "{FAILOVER_CALLS} failover calls took {:?}",
        started.elapsed()
    );

    for node in info.node_ids("eu") {
        cluster.restart(&node).await;
    }
    let restarted = Instant::now();
    let mut x = 0;
    loop {
        x += 1;
        // Still no error visible while the gateway learns the nodes are back.
        let served = echo(&info, &eu_client, x)
            .await
            .unwrap_or_else(|e| panic!("idempotent call {x} failed after the restart: {e:?}"));
        if served.region == "eu" {
            break;
        }
        assert!(
            restarted.elapsed() < RETURN_LIMIT,
            "eu traffic still served by {served:?} {RETURN_LIMIT:?} after eu came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("traffic returned to eu after {:?}", restarted.elapsed());
    // And it stays there.
    for x in 0..5 {
        let served = echo(&info, &eu_client, x)
            .await
            .expect("eu call after return");
        assert_eq!(served.region, "eu", "{served:?}");
    }
    cluster.stop().await;
}
