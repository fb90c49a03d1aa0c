//! `worker-node`: serves one worker node until SIGTERM or SIGINT, then
//! drains and exits 0. See [`worker_node::Args`] for the settings. The
//! supervisor also re-executes this binary for each sandbox.

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::SignalKind;
use tokio::signal::unix::signal;
use worker_node::Args;
use worker_node::Node;
use worker_node::NodeConfig;

fn main() -> ExitCode {
    edge_sandbox::run_child_if_requested();
    let args = Args::parse();
    // Logs to stderr; spans over OTLP when the standard OTEL_* variables ask
    // (sandbox children returned above: they have no network and export nothing).
    // Held to the end of main: dropping it flushes the spans still queued.
    let _telemetry = match edge_telemetry::init("worker-node") {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("worker-node: setting up logging and tracing: {e}");
            return ExitCode::from(1);
        }
    };
    let result = NodeConfig::load(args)
        .context("bad configuration")
        .and_then(serve);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker-node: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn serve(config: NodeConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async {
        // Installed first, so a signal during start-up drains instead of killing.
        let mut terminate =
            signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let node = tokio::select! {
            started = Node::start(config, listener) => started.context("starting the worker node")?,
            // Not registered yet: nothing to drain, nothing in flight.
            _ = terminate.recv() => return stopped_before_ready("SIGTERM"),
            _ = interrupt.recv() => return stopped_before_ready("SIGINT"),
        };
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", node.ready_line()).context("writing the ready line")?;
        stdout.flush().context("writing the ready line")?;
        drop(stdout);
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: draining"),
            _ = interrupt.recv() => tracing::info!("SIGINT: draining"),
        }
        let report = node.drain().await;
        tracing::info!(?report, "worker node stopped");
        Ok(())
    })
}

fn stopped_before_ready(signal: &str) -> anyhow::Result<()> {
    tracing::info!("{signal} before the node was ready: stopping");
    Ok(())
}
