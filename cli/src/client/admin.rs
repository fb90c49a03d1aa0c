//! Operator calls through the gateway (the key must be an admin tenant's):
//! `tenant create`, `status`, and the billing export `edgectl billing
//! export` sends when no control plane is named.

use std::process::ExitCode;

use edge_proto::v1 as pb;
use serde_json::Value;
use serde_json::json;

use super::GatewayArgs;
use super::connect::Gateway;
use super::failure::Failure;

#[derive(clap::Args, Debug)]
pub(crate) struct TenantArgs {
    #[command(subcommand)]
    command: TenantCommand,
}

#[derive(clap::Subcommand, Debug)]
enum TenantCommand {
    /// Create a tenant and its first API key; prints the key, once.
    Create {
        /// The tenant's name.
        name: String,
        /// Make it an admin tenant (may create tenants, export billing).
        #[arg(long)]
        admin: bool,
        /// Seconds until the key expires (default: never).
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        key_ttl_seconds: u64,
    },
}

pub(crate) async fn tenant(args: TenantArgs, gateway: &GatewayArgs) -> Result<ExitCode, Failure> {
    let TenantCommand::Create {
        name,
        admin,
        key_ttl_seconds,
    } = args.command;
    let mut gw = Gateway::connect(gateway).await?;
    let request = gw.request(pb::GatewayCreateTenantRequest {
        tenant: name,
        admin,
        key_ttl_seconds,
    });
    let response = gw.client().create_tenant(request).await?.into_inner();
    println!(
        "{}",
        json!({"ok": true, "tenant": response.tenant, "api_key": response.api_key})
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn status(gateway: &GatewayArgs) -> Result<ExitCode, Failure> {
    let mut gw = Gateway::connect(gateway).await?;
    let request = gw.request(pb::ClusterStatusRequest {});
    let response = gw.client().cluster_status(request).await?.into_inner();
    println!("{}", status_json(&response));
    Ok(ExitCode::SUCCESS)
}

/// The billing export, asked of the gateway.
pub(crate) async fn export_billing(
    gateway: &GatewayArgs,
    message: pb::ExportBillingRequest,
) -> Result<pb::ExportBillingResponse, Failure> {
    let mut gw = Gateway::connect(gateway).await?;
    let request = gw.request(message);
    Ok(gw.client().export_billing(request).await?.into_inner())
}

fn status_json(status: &pb::ClusterStatusResponse) -> Value {
    let control_plane = status.control_plane.as_ref().map(|s| {
        let members: Vec<_> = s
            .members
            .iter()
            .map(|m| json!({"id": m.id, "addr": m.addr, "voter": m.voter, "last_log_index": m.last_log_index}))
            .collect();
        json!({
            "leader": if s.has_leader { json!(s.leader) } else { Value::Null },
            "term": s.term,
            "members": members,
            "commit_index": s.commit_index,
            "applied_index": s.applied_index,
            "ledger_size": s.ledger_size,
        })
    });
    let nodes: Vec<_> = status
        .nodes
        .iter()
        .map(|n| {
            json!({
                "node_id": n.node_id,
                "region": n.region,
                "latitude": n.latitude,
                "longitude": n.longitude,
                "addr": n.grpc_addr,
                "health": health_name(n.health()),
                "capacity": n.capacity,
                "load": n.load,
                "in_flight": n.in_flight,
                "live_sandboxes": n.live_sandboxes,
                "max_sandboxes": n.max_sandboxes,
                "resident_bytes": n.resident_bytes,
                "memory_budget_bytes": n.memory_budget_bytes,
                "last_heartbeat_unix_ms": n.last_heartbeat_unix_ms,
            })
        })
        .collect();
    json!({"ok": true, "control_plane": control_plane, "nodes": nodes})
}

/// A node's health as printed.
pub(crate) fn health_name(health: pb::NodeHealth) -> &'static str {
    match health {
        pb::NodeHealth::Healthy => "healthy",
        pb::NodeHealth::Unhealthy => "unhealthy",
        pb::NodeHealth::Draining => "draining",
        pb::NodeHealth::Unspecified => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_leader_and_node_health() {
        let status = pb::ClusterStatusResponse {
            control_plane: Some(pb::StatusResponse {
                leader: 2,
                has_leader: true,
                term: 3,
                ..Default::default()
            }),
            nodes: vec![pb::NodeInfo {
                node_id: "us-1".into(),
                health: pb::NodeHealth::Draining as i32,
                grpc_addr: "127.0.0.1:9".into(),
                ..Default::default()
            }],
        };
        let out = status_json(&status);
        assert_eq!(out["control_plane"]["leader"], 2);
        assert_eq!(out["nodes"][0]["health"], "draining");
        assert_eq!(out["nodes"][0]["addr"], "127.0.0.1:9");
    }
}
