//! The client commands: talk to a gateway (`edge.v1.Gateway`) with an API
//! key. Each prints one JSON object on stdout (`logs`: one per event);
//! `invoke` and `run` print what `edgectl exec` prints plus `region` and
//! `node`. A gRPC error prints `{"ok":false,"error":{"kind":"<code>",...}}`
//! and exits 1; a usage error exits 2.
//!
//! - `connect`: the connection and the request/response metadata.
//! - `flags`: bundle, limits, grants and invocation flags.
//! - `workers`: put, delete, list, invoke, run.
//! - `outcome`: printing an invocation's outcome.
//! - `logs`: following console output.
//! - `admin`: tenants, cluster status, billing through the gateway.
//! - `failure`: how a command fails.

mod admin;
mod connect;
mod failure;
mod flags;
mod logs;
mod outcome;
mod workers;

use std::process::ExitCode;

pub(crate) use self::admin::export_billing;
pub(crate) use self::connect::Gateway;
pub(crate) use self::failure::Failure;

/// Where the gateway is and who calls it; global flags of `edgectl`.
#[derive(clap::Args, Debug, Default, Clone)]
pub(crate) struct GatewayArgs {
    /// The gateway, host:port.
    #[arg(long, global = true, env = "EDGE_GATEWAY", value_name = "ADDR")]
    pub(crate) gateway: Option<String>,
    /// The tenant's API key.
    #[arg(
        long,
        global = true,
        env = "EDGE_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub(crate) api_key: Option<String>,
    /// The region the client is in (routes to it, or the nearest with capacity).
    #[arg(long, global = true, env = "EDGE_REGION", value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// The client's latitude in degrees (with --lon; wins over --region).
    #[arg(
        long,
        global = true,
        allow_negative_numbers = true,
        value_name = "DEGREES"
    )]
    pub(crate) lat: Option<f64>,
    /// The client's longitude in degrees (with --lat).
    #[arg(
        long,
        global = true,
        allow_negative_numbers = true,
        value_name = "DEGREES"
    )]
    pub(crate) lon: Option<f64>,
}

/// The commands that talk to a gateway.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum ClientCommand {
    /// Store a Worker under an id (a new version when the code changed).
    Put(workers::PutArgs),
    /// Delete a stored Worker.
    Delete {
        /// The Worker's id.
        #[arg(long)]
        id: String,
    },
    /// List the tenant's stored Workers.
    List,
    /// Invoke a stored Worker by --call or --fetch.
    Invoke(workers::InvokeArgs),
    /// Run code sent with the request: with --id it stays loaded like a
    /// stored Worker; without, a fresh isolate each time, billed each run.
    Run(workers::RunArgs),
    /// Follow the console output of the tenant's Workers (JSON lines, until Ctrl-C).
    Logs {
        /// Only this Worker's output.
        #[arg(long)]
        id: Option<String>,
    },
    /// Tenants (admin key).
    Tenant(admin::TenantArgs),
    /// The control plane's status and the worker nodes (admin key).
    Status,
}

/// Runs a client command; prints its JSON and gives the exit code.
pub(crate) fn run(command: ClientCommand, gateway: &GatewayArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return Failure::Unreachable(format!("cannot start the runtime: {e}")).report(),
    };
    match runtime.block_on(execute(command, gateway)) {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

async fn execute(command: ClientCommand, gateway: &GatewayArgs) -> Result<ExitCode, Failure> {
    match command {
        ClientCommand::Put(args) => workers::put(args, gateway).await,
        ClientCommand::Delete { id } => workers::delete(id, gateway).await,
        ClientCommand::List => workers::list(gateway).await,
        ClientCommand::Invoke(args) => workers::invoke(args, gateway).await,
        ClientCommand::Run(args) => workers::run_inline(args, gateway).await,
        ClientCommand::Logs { id } => logs::follow(id, gateway).await,
        ClientCommand::Tenant(args) => admin::tenant(args, gateway).await,
        ClientCommand::Status => admin::status(gateway).await,
    }
}
