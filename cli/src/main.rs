//! `edgectl`: the command line for clients and operators.
//!
//! Each subcommand lives in its own module; this file only parses arguments
//! and dispatches.

#![forbid(unsafe_code)]

mod billing;
mod cluster;
mod exec;

use std::process::ExitCode;

use clap::Parser;
use clap::Subcommand;

#[derive(Parser)]
#[command(
    name = "edgectl",
    version,
    about = "Client and operator tool for the edge isolate platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Worker locally in a real V8 isolate, no cluster needed.
    Exec(exec::ExecArgs),
    /// Manage a control-plane cluster: init, join, remove, status.
    Cluster(cluster::ClusterArgs),
    /// Billing: export unique Worker loads per tenant per day.
    Billing(billing::BillingArgs),
}

fn main() -> ExitCode {
    // A sandbox is this binary re-executed: serve it and never return.
    edge_sandbox::run_child_if_requested();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // Help and version are not usage errors.
            if !err.use_stderr() {
                return ExitCode::SUCCESS;
            }
            // `exec` promises one JSON object on stdout, usage errors included.
            if std::env::args().nth(1).as_deref() == Some("exec") {
                let message = err.render().to_string().trim().to_owned();
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": {"kind": "bad_request", "message": message}})
                );
            }
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Exec(args) => exec::run(args),
        Command::Cluster(args) => run_async(cluster::execute(args.command)),
        Command::Billing(args) => run_async(billing::execute(args.command)),
    }
}

/// Runs an async subcommand to completion; an error goes to stderr with its
/// context and exit code 1.
fn run_async(command: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
