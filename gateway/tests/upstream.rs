//! Telling "never reached" apart, against real sockets on loopback.

use edge_proto::v1 as pb;
use gateway::upstream::NodeChannels;
use gateway::upstream::answered_by_server;
use gateway::upstream::not_reached;

#[tokio::test]
async fn a_refused_connection_counts_as_not_reached() {
    // Bind, note the port, close: nothing listens there now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let channels = NodeChannels::new(1024 * 1024);
    let mut client = channels.client(&format!("127.0.0.1:{port}")).unwrap();
    let status = client
        .node_status(pb::NodeStatusRequest {})
        .await
        .expect_err("nothing listens");
    assert!(not_reached(&status), "{status:?}");
    assert!(!answered_by_server(&status));
    // A status a server sent is neither.
    let sent = tonic::Status::unavailable("draining");
    assert!(!not_reached(&sent));
    assert!(answered_by_server(&sent));
}
