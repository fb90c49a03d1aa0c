//! The cluster-level steps of `edgectl dev`, all over gRPC: form the Raft
//! cluster (init once, join the others), wait until every worker node is
//! healthy as the gateway reports it, and make sure the `dev` tenant has a
//! key.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use edge_proto::v1 as pb;
use edge_proto::v1::cluster_admin_client::ClusterAdminClient;
use tonic::Code;
use tonic::transport::Channel;

use super::layout;
use super::state::DevState;
use crate::client::Gateway;
use crate::client::GatewayArgs;
use crate::cluster::channel;
use crate::cluster::status_error;

/// Longest wait for each step (an election, a join, nodes turning healthy).
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between two polls of a condition.
const POLL: Duration = Duration::from_millis(200);

/// Initialises the cluster on its first run (keeping the admin key in the
/// state at once), then joins every control-plane node not yet a voter.
pub(super) async fn form_cluster(
    state: &mut DevState,
    data_dir: &Path,
    control_plane: &[String],
) -> anyhow::Result<()> {
    let mut admin = ClusterAdminClient::new(channel(&control_plane[0]).await?);
    if state.admin_key.is_none() {
        let mut request = tonic::Request::new(pb::InitRequest {
            admin_tenant: String::new(),
        });
        request.set_timeout(STEP_TIMEOUT);
        let key = match admin.init(request).await {
            Ok(response) => response.into_inner().admin_key,
            Err(status) if status.code() == Code::AlreadyExists => anyhow::bail!(
                "the control plane in {} is initialised but {} holds no admin key (it is shown \
                 only once); remove {} to start afresh",
                data_dir.display(),
                super::state::FILE,
                data_dir.display()
            ),
            Err(status) => return Err(status_error("cluster init", status)),
        };
        anyhow::ensure!(
            !key.is_empty(),
            "cluster init returned no admin key: is the control-plane binary older than edgectl?"
        );
        state.admin_key = Some(key);
        state.save(data_dir)?;
    }
    let members = wait_for_leader(&mut admin).await?.members;
    for (index, addr) in control_plane.iter().enumerate().skip(1) {
        let id = index as u64 + 1;
        if !members.iter().any(|m| m.id == id && m.voter) {
            join(&mut admin, id, addr).await?;
        }
    }
    Ok(())
}

async fn wait_for_leader(
    admin: &mut ClusterAdminClient<Channel>,
) -> anyhow::Result<pb::StatusResponse> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let mut request = tonic::Request::new(pb::StatusRequest { local: false });
        request.set_timeout(Duration::from_secs(2));
        let last = match admin.status(request).await {
            Ok(response) if response.get_ref().has_leader => return Ok(response.into_inner()),
            Ok(_) => "no leader yet".to_owned(),
            Err(status) => status.message().to_owned(),
        };
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the control plane elected no leader within {STEP_TIMEOUT:?} ({last})"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Joins node `id`; Join itself waits through an election, and is retried
/// within the step's time should it still fail.
async fn join(admin: &mut ClusterAdminClient<Channel>, id: u64, addr: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let mut request = tonic::Request::new(pb::JoinRequest {
            id,
            addr: addr.to_owned(),
        });
        request.set_timeout(STEP_TIMEOUT);
        match admin.join(request).await {
            Ok(_) => return Ok(()),
            Err(status) if tokio::time::Instant::now() < deadline => {
                eprintln!(
                    "edgectl dev: joining control-plane node {id} failed ({}); retrying",
                    status.message()
                );
                tokio::time::sleep(POLL).await;
            }
            Err(status) => {
                return Err(status_error(
                    &format!("joining control-plane node {id}"),
                    status,
                ));
            }
        }
    }
}

/// A gateway client with the admin key.
async fn admin_gateway(gateway: &str, state: &DevState) -> anyhow::Result<Gateway> {
    let args = GatewayArgs {
        gateway: Some(gateway.to_owned()),
        api_key: state.admin_key.clone(),
        ..GatewayArgs::default()
    };
    Gateway::connect(&args)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Waits until the gateway's ClusterStatus shows every worker node healthy.
pub(super) async fn wait_healthy(gateway: &str, state: &DevState) -> anyhow::Result<()> {
    let mut gw = admin_gateway(gateway, state).await?;
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let mut request = gw.request(pb::ClusterStatusRequest {});
        request.set_timeout(Duration::from_secs(2));
        let last = match gw.client().cluster_status(request).await {
            Ok(response) => {
                let nodes = response.into_inner().nodes;
                let unhealthy: Vec<String> = layout::worker_nodes()
                    .filter(|(_, id)| {
                        !nodes
                            .iter()
                            .any(|n| n.node_id == *id && n.health() == pb::NodeHealth::Healthy)
                    })
                    .map(|(_, id)| id.to_owned())
                    .collect();
                if unhealthy.is_empty() {
                    return Ok(());
                }
                format!("not healthy yet: {}", unhealthy.join(", "))
            }
            Err(status) => status.message().to_owned(),
        };
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the worker nodes did not all turn healthy within {STEP_TIMEOUT:?} ({last})"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Creates the `dev` tenant on the first run (or a new key for it, should
/// the state have lost its key) and keeps the key in the state.
pub(super) async fn ensure_tenant(
    gateway: &str,
    state: &mut DevState,
    data_dir: &Path,
) -> anyhow::Result<()> {
    if state.tenant_key.is_some() {
        return Ok(());
    }
    let mut gw = admin_gateway(gateway, state).await?;
    let request = gw.request(pb::GatewayCreateTenantRequest {
        tenant: layout::TENANT.to_owned(),
        admin: false,
        key_ttl_seconds: 0,
    });
    let key = match gw.client().create_tenant(request).await {
        Ok(response) => response.into_inner().api_key,
        Err(status) if status.code() == Code::AlreadyExists => {
            let request = gw.request(pb::CreateApiKeyRequest {
                tenant: layout::TENANT.to_owned(),
                ttl_seconds: 0,
            });
            gw.client()
                .create_api_key(request)
                .await
                .map_err(|s| status_error("creating a key for tenant dev", s))?
                .into_inner()
                .api_key
        }
        Err(status) => return Err(status_error("creating tenant dev", status)),
    };
    anyhow::ensure!(
        !key.is_empty(),
        "the gateway returned an empty key for tenant dev"
    );
    state.tenant_key = Some(key);
    state.save(data_dir).context("keeping the tenant key")
}
