//! `gateway`: serves `edge.v1.Gateway`. Settings come from flags, `EDGE_*`
//! variables and an optional TOML file (see `gateway --help`). Once
//! listening it prints one JSON line on stdout,
//! `{"listen":"127.0.0.1:PORT","region":"eu"}`; logs go to stderr.
//! SIGTERM or SIGINT: stop accepting, finish in-flight calls, exit 0.

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use gateway::Cli;
use gateway::Config;

/// Longest wait for in-flight calls after a stop signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs to stderr; spans over OTLP when the standard OTEL_* variables ask.
    // Held to the end of main: dropping it flushes the spans still queued.
    let _telemetry = match edge_telemetry::init("gateway") {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("gateway: setting up logging and tracing: {e}");
            return ExitCode::from(1);
        }
    };
    let config = match Config::load(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gateway: bad configuration: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gateway: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    // Handlers first: a signal right after the ready line must drain, not kill.
    let stop = stop_signal().context("installing SIGTERM/SIGINT handlers")?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let ready = serde_json::json!({ "listen": addr.to_string(), "region": config.region });
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{ready}").context("writing the ready line")?;
        out.flush().context("flushing stdout")?;
    }
    tracing::info!(listen = %addr, region = %config.region, "gateway listening");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(gateway::serve(config, listener, async move {
        let _ = stop_rx.await;
    }));
    tokio::select! {
        _ = stop => {}
        // The server stopped on its own: that is an error worth reporting.
        joined = &mut server => {
            joined.context("gateway task")?.context("serving")?;
            anyhow::bail!("the server stopped without a stop signal");
        }
    }
    tracing::info!("stop signal: draining");
    let _ = stop_tx.send(());
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(joined) => joined.context("gateway task")?.context("serving")?,
        Err(_) => tracing::warn!("in-flight calls outlived the grace period; exiting"),
    }
    Ok(())
}

fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::SignalKind;
    use tokio::signal::unix::signal;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
