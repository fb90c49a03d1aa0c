//! `control-plane`: runs one control-plane node.
//!
//! `control-plane --id 1 --listen 127.0.0.1:7000 --data-dir /var/lib/cp1`
//! then `edgectl cluster init --control-plane 127.0.0.1:7000` once (it prints
//! the first admin API key), and `edgectl cluster join` for the other nodes.
//! Stops cleanly on SIGINT or SIGTERM.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use control_plane::Config;
use edge_telemetry::TelemetryConfig;
use tokio::signal::unix::SignalKind;
use tokio::signal::unix::signal;

#[derive(Parser, Debug)]
#[command(
    name = "control-plane",
    version,
    about = "One node of the replicated control plane"
)]
struct Args {
    /// Raft node id, unique in the cluster (not 0).
    #[arg(long, env = "CP_ID")]
    id: u64,
    /// Address to listen on, host:port (port 0 picks a free port).
    #[arg(long, env = "CP_LISTEN", default_value = "127.0.0.1:7000")]
    listen: String,
    /// Address other nodes reach this node at (defaults to the bound address).
    #[arg(long, env = "CP_ADVERTISE")]
    advertise: Option<String>,
    /// Directory of the node's sled database (created if missing).
    #[arg(long, env = "CP_DATA_DIR")]
    data_dir: PathBuf,
    /// Seconds without a heartbeat after which a worker node is unhealthy.
    #[arg(long, default_value_t = Config::DEFAULT_NODE_HEARTBEAT_TIMEOUT.as_secs())]
    node_heartbeat_timeout_secs: u64,
    /// Raft election timeout (minimum) in milliseconds; the maximum is 1.5 ×
    /// this. A leader crash is detected after 2.5–3 × this (leader lease
    /// plus a random election timeout).
    #[arg(long, default_value_t = millis(Config::DEFAULT_ELECTION_TIMEOUT))]
    election_timeout_ms: u64,
    /// Raft heartbeat interval in milliseconds.
    #[arg(long, default_value_t = millis(Config::DEFAULT_RAFT_HEARTBEAT))]
    raft_heartbeat_ms: u64,
    /// Build a snapshot and compact the log every this many entries.
    #[arg(long, default_value_t = Config::DEFAULT_SNAPSHOT_EVERY)]
    snapshot_every: u64,
    /// Log entries kept behind a snapshot for slow followers.
    #[arg(long, default_value_t = Config::DEFAULT_KEEP_LOGS_AFTER_SNAPSHOT)]
    keep_logs: u64,
}

/// Log filter when `RUST_LOG` is unset: openraft's info lines (and spans)
/// come many times a second.
const DEFAULT_LOG_FILTER: &str = "info,openraft=warn";

/// A default duration as the whole milliseconds the flags take.
fn millis(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Logs to stderr; spans over OTLP when the standard OTEL_* variables ask.
    // Held to the end of main: dropping it flushes the spans still queued.
    let mut telemetry = TelemetryConfig::from_env("control-plane");
    if std::env::var("RUST_LOG")
        .ok()
        .is_none_or(|v| v.trim().is_empty())
    {
        telemetry.filter = DEFAULT_LOG_FILTER.to_owned();
    }
    let _telemetry =
        edge_telemetry::init_with(telemetry).context("setting up logging and tracing")?;
    if args.id == 0 {
        anyhow::bail!("--id must not be 0");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {} (is another node using it?)", args.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    // Tests and scripts read this line to learn the port.
    println!("listening on {bound}");
    let mut config = Config::new(args.id, &args.data_dir);
    config.advertise_addr = args.advertise;
    config.node_heartbeat_timeout = Duration::from_secs(args.node_heartbeat_timeout_secs);
    config.election_timeout = Duration::from_millis(args.election_timeout_ms);
    config.raft_heartbeat = Duration::from_millis(args.raft_heartbeat_ms);
    config.snapshot_every = args.snapshot_every;
    config.keep_logs_after_snapshot = args.keep_logs;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    control_plane::run(config, listener, shutdown)
        .await
        .with_context(|| format!("control-plane node {} on {bound}", args.id))
}
