//! `edgectl billing export`: per-tenant billing rows for a day or a range of
//! UTC days, as CSV or JSON lines; `--detail` adds one row per unique Worker.
//! Asked of a control-plane node (`--control-plane`) or, without one, of the
//! gateway (`--gateway`, `EDGE_GATEWAY`) with an admin API key.

use std::io::Write;

use edge_proto::v1 as pb;
use edge_proto::v1::control_plane_client::ControlPlaneClient;
use serde_json::json;

use crate::client::GatewayArgs;
use crate::cluster::channel;
use crate::cluster::status_error;

#[derive(clap::Args, Debug)]
pub struct BillingArgs {
    #[command(subcommand)]
    pub(crate) command: BillingCommand,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Format {
    Csv,
    Jsonl,
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum BillingCommand {
    /// Rows (day, tenant, unique_workers, amount_micro_usd) for days FROM..=TO.
    Export {
        /// Any control-plane node, host:port. Without it, the export goes
        /// through the gateway (--gateway, with an admin --api-key).
        #[arg(long)]
        control_plane: Option<String>,
        /// First UTC day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last UTC day, YYYY-MM-DD (defaults to FROM).
        #[arg(long)]
        to: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// One row per unique Worker (day, tenant, worker_id, code_hash) instead.
        #[arg(long)]
        detail: bool,
    },
}

/// CSV field, quoted when needed.
fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

pub async fn execute(command: BillingCommand, gateway: &GatewayArgs) -> anyhow::Result<()> {
    let BillingCommand::Export {
        control_plane,
        from,
        to,
        format,
        detail,
    } = command;
    let to = to.unwrap_or_else(|| from.clone());
    let request = pb::ExportBillingRequest {
        from_day: from,
        to_day: to,
        detail,
    };
    let resp = match (control_plane, &gateway.gateway) {
        (Some(control_plane), _) => {
            let mut client = ControlPlaneClient::new(channel(&control_plane).await?)
                .max_decoding_message_size(512 * 1024 * 1024);
            client
                .export_billing(request)
                .await
                .map_err(|s| status_error("billing export", s))?
                .into_inner()
        }
        (None, Some(_)) => crate::client::export_billing(gateway, request)
            .await
            .map_err(|e| anyhow::anyhow!("billing export through the gateway failed: {e}"))?,
        (None, None) => anyhow::bail!(
            "billing export needs --control-plane ADDR, or --gateway ADDR (or EDGE_GATEWAY) with an admin API key"
        ),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match (format, detail) {
        (Format::Csv, false) => {
            writeln!(out, "day,tenant,unique_workers,amount_micro_usd")?;
            for r in &resp.rows {
                writeln!(
                    out,
                    "{},{},{},{}",
                    r.day,
                    csv(&r.tenant),
                    r.unique_workers,
                    r.amount_micro_usd
                )?;
            }
        }
        (Format::Jsonl, false) => {
            for r in &resp.rows {
                let row = json!({"day": r.day, "tenant": r.tenant, "unique_workers": r.unique_workers, "amount_micro_usd": r.amount_micro_usd});
                writeln!(out, "{row}")?;
            }
        }
        (Format::Csv, true) => {
            writeln!(out, "day,tenant,worker_id,code_hash,amount_micro_usd")?;
            for r in &resp.detail {
                writeln!(
                    out,
                    "{},{},{},{},2000",
                    r.day,
                    csv(&r.tenant),
                    csv(&r.worker_id),
                    csv(&r.code_hash)
                )?;
            }
        }
        (Format::Jsonl, true) => {
            for r in &resp.detail {
                let row = json!({"day": r.day, "tenant": r.tenant, "worker_id": r.worker_id, "code_hash": r.code_hash, "amount_micro_usd": 2000});
                writeln!(out, "{row}")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
