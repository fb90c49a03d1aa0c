//! `loadtest`: the figures we publish, printed as one JSON document.
//!
//! `loadtest engine` measures the V8 engine in this process: isolate
//! creation, Worker load, warm `call` round trips, density (N live isolates
//! and resident memory per isolate) and, in the same run, a baseline that
//! starts a fresh `node -e` process per invocation of the same code.
//! `loadtest hostile` measures a well-behaved tenant under hostile ones.
//! `loadtest gateway` measures the fleet through a local `edgectl dev` cluster.

#![forbid(unsafe_code)]

mod engine_bench;
mod gateway;
mod hostile;
mod sandbox;
mod stats;
mod workload;

use anyhow::Result;
use clap::Parser;
use clap::Subcommand;

#[derive(Parser)]
#[command(
    name = "loadtest",
    about = "Benchmarks of the edge isolate platform (JSON on stdout)"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// The in-process engine against a node-per-invocation baseline.
    Engine(engine_bench::EngineArgs),
    /// Workers run as the node runs them: in sandbox processes (this binary).
    Sandbox(sandbox::SandboxArgs),
    /// A well-behaved tenant's latency while hostile tenants attack.
    Hostile(hostile::HostileArgs),
    /// The fleet through the gateway of a local `edgectl dev` cluster.
    Gateway(gateway::GatewayArgs),
}

fn main() -> Result<()> {
    // Sandboxes are this binary re-executed: serve one and never return.
    edge_sandbox::run_child_if_requested();
    let cli = Cli::parse();
    let report = match cli.scenario {
        Scenario::Engine(args) => engine_bench::run(&args)?,
        Scenario::Sandbox(args) => sandbox::run(&args)?,
        Scenario::Hostile(args) => hostile::run(&args)?,
        Scenario::Gateway(args) => gateway::run(&args)?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
