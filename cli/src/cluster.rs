//! `edgectl cluster`: initialise a control-plane cluster, add and remove
//! nodes, and print its status as JSON.

use anyhow::Context;
use edge_proto::v1 as pb;
use edge_proto::v1::cluster_admin_client::ClusterAdminClient;
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub(crate) command: ClusterCommand,
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum ClusterCommand {
    /// Make the contacted node the first voter of a new cluster (run once);
    /// prints the first admin tenant's API key, shown only this once.
    Init {
        /// A control-plane node, host:port.
        #[arg(long)]
        control_plane: String,
        /// Name of the admin tenant to create.
        #[arg(long, default_value = "admin")]
        admin_tenant: String,
    },
    /// Add node ID at ADDR as a learner, wait for it to catch up, promote it to voter.
    Join {
        /// Any control-plane node of the cluster, host:port.
        #[arg(long)]
        control_plane: String,
        /// Raft id of the new node.
        #[arg(long)]
        id: u64,
        /// Address of the new node, host:port.
        #[arg(long)]
        addr: String,
    },
    /// Remove node ID from the cluster.
    Remove {
        /// Any control-plane node of the cluster, host:port.
        #[arg(long)]
        control_plane: String,
        /// Raft id of the node to remove.
        #[arg(long)]
        id: u64,
    },
    /// Print leader, term, members and metrics as JSON.
    Status {
        /// Any control-plane node of the cluster, host:port.
        #[arg(long)]
        control_plane: String,
    },
}

/// What `cluster init` prints, fields in this order.
#[derive(serde::Serialize)]
struct InitOutput {
    ok: bool,
    admin_tenant: String,
    /// Shown only this once; only its hash is stored.
    admin_key: String,
}

/// Connects to a control-plane node given as host:port or a URL.
pub(crate) async fn channel(addr: &str) -> anyhow::Result<tonic::transport::Channel> {
    let url = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    tonic::transport::Endpoint::from_shared(url.clone())
        .with_context(|| format!("{addr:?} is not a valid address (expected host:port)"))?
        .connect()
        .await
        .with_context(|| format!("connecting to the control plane at {url}"))
}

/// Turns a gRPC status into an error naming the call.
pub(crate) fn status_error(what: &str, s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{what} failed: {:?}: {}", s.code(), s.message())
}

pub async fn execute(command: ClusterCommand) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Init {
            control_plane,
            admin_tenant,
        } => {
            let mut c = ClusterAdminClient::new(channel(&control_plane).await?);
            let r = c
                .init(pb::InitRequest { admin_tenant })
                .await
                .map_err(|s| status_error("init", s))?
                .into_inner();
            let out = InitOutput {
                ok: true,
                admin_tenant: r.admin_tenant,
                admin_key: r.admin_key,
            };
            println!("{}", serde_json::to_string(&out)?);
        }
        ClusterCommand::Join {
            control_plane,
            id,
            addr,
        } => {
            let mut c = ClusterAdminClient::new(channel(&control_plane).await?);
            c.join(pb::JoinRequest { id, addr })
                .await
                .map_err(|s| status_error("join", s))?;
            println!("{}", json!({"ok": true}));
        }
        ClusterCommand::Remove { control_plane, id } => {
            let mut c = ClusterAdminClient::new(channel(&control_plane).await?);
            c.remove(pb::RemoveRequest { id })
                .await
                .map_err(|s| status_error("remove", s))?;
            println!("{}", json!({"ok": true}));
        }
        ClusterCommand::Status { control_plane } => {
            let mut c = ClusterAdminClient::new(channel(&control_plane).await?);
            let s = c
                .status(pb::StatusRequest { local: false })
                .await
                .map_err(|s| status_error("status", s))?
                .into_inner();
            let members: Vec<_> = s
                .members
                .iter()
                .map(|m| {
                    json!({
                        "id": m.id,
                        "addr": m.addr,
                        "role": if m.voter { "voter" } else { "learner" },
                        "voter": m.voter,
                        "last_log_index": m.last_log_index,
                    })
                })
                .collect();
            let out = json!({
                "leader": if s.has_leader { json!(s.leader) } else { json!(null) },
                "term": s.term,
                "members": members,
                "commit_index": s.commit_index,
                "applied_index": s.applied_index,
                "snapshot_age_ms": if s.snapshot_age_ms < 0 { json!(null) } else { json!(s.snapshot_age_ms) },
                "ledger_size": s.ledger_size,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(())
}
