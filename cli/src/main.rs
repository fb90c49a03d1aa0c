//! `edgectl`: the command line for clients and operators.
//!
//! Each subcommand lives in its own module; this file only parses arguments
//! and dispatches.

#![forbid(unsafe_code)]

mod billing;
mod client;
mod cluster;
mod dev;
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
    #[command(flatten)]
    gateway: client::GatewayArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Worker locally in a real V8 isolate, no cluster needed.
    Exec(exec::ExecArgs),
    #[command(flatten)]
    Client(client::ClientCommand),
    /// Manage a control-plane cluster: init, join, remove, status.
    Cluster(cluster::ClusterArgs),
    /// Billing: export unique Worker loads per tenant per day.
    Billing(billing::BillingArgs),
    /// Start a local multi-region cluster (control plane, worker nodes,
    /// gateway) as real processes; prints how to reach it as one JSON line.
    Dev(dev::DevArgs),
}

/// Subcommands that promise one JSON object on stdout, usage errors included.
const JSON_COMMANDS: [&str; 3] = ["exec", "invoke", "run"];

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
            let args: Vec<String> = std::env::args().skip(1).collect();
            if subcommand(&args).is_some_and(|name| JSON_COMMANDS.contains(&name)) {
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
        Command::Client(command) => client::run(command, &cli.gateway),
        Command::Cluster(args) => run_async(cluster::execute(args.command)),
        Command::Billing(args) => run_async(billing::execute(args.command, &cli.gateway)),
        Command::Dev(args) => dev::run(args),
    }
}

/// Global flags that take a value as the next argument.
const GLOBAL_VALUE_FLAGS: [&str; 5] = ["--gateway", "--api-key", "--region", "--lat", "--lon"];

/// The subcommand named in `args` (the arguments after the program name),
/// global flags and their values skipped.
fn subcommand(args: &[String]) -> Option<&str> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if GLOBAL_VALUE_FLAGS.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("edgectl").chain(args.iter().copied()))
    }

    #[test]
    fn the_subcommand_is_found_after_global_flags() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            subcommand(&args(&["--gateway", "run", "invoke", "--id", "x"])),
            Some("invoke")
        );
        assert_eq!(subcommand(&args(&["--lat=1", "run"])), Some("run"));
        assert_eq!(subcommand(&args(&["--help"])), None);
    }

    #[test]
    fn global_flags_go_before_or_after_the_subcommand() {
        let cli = parse(&[
            "--gateway",
            "127.0.0.1:1",
            "list",
            "--api-key",
            "k",
            "--region",
            "us",
        ])
        .expect("parses");
        assert_eq!(cli.gateway.gateway.as_deref(), Some("127.0.0.1:1"));
        assert_eq!(cli.gateway.api_key.as_deref(), Some("k"));
        assert_eq!(cli.gateway.region.as_deref(), Some("us"));
        let cli = parse(&[
            "invoke", "--id", "w", "--lat", "38.9", "--lon", "-77.4", "--call", "m",
        ])
        .expect("negative longitude parses");
        assert_eq!(cli.gateway.lon, Some(-77.4));
    }

    #[test]
    fn invoke_takes_a_call_or_a_fetch_not_both() {
        assert!(parse(&["invoke", "--id", "w", "--call", "m", "--input", "{}"]).is_ok());
        assert!(
            parse(&[
                "invoke",
                "--id",
                "w",
                "--fetch",
                "http://x/",
                "--method",
                "POST",
                "--header",
                "a:b",
                "--body",
                "x"
            ])
            .is_ok()
        );
        assert!(parse(&["invoke", "--id", "w", "--call", "m", "--fetch", "http://x/"]).is_err());
        assert!(
            parse(&["invoke", "--id", "w", "--input", "{}"]).is_err(),
            "--input needs --call"
        );
        assert!(
            parse(&["invoke", "--call", "m"]).is_err(),
            "--id is required"
        );
        assert!(parse(&["invoke", "--id", "w", "--body", "a", "--body-file", "f"]).is_err());
    }

    #[test]
    fn put_and_run_take_modules_limits_and_grants() {
        let cli = parse(&[
            "put",
            "--id",
            "w",
            "--file",
            "main.ts",
            "--module",
            "./a.ts=a.ts",
            "--memory-mb",
            "64",
            "--allow-host",
            "api.example.com",
            "--secret",
            "S",
            "--scratch-mb",
            "4",
            "--sub-worker",
            "v",
            "--mcp-server",
            "m",
        ]);
        assert!(cli.is_ok(), "{:?}", cli.err());
        assert!(
            parse(&[
                "put",
                "--id",
                "w",
                "--file",
                "main.ts",
                "--memory-mb",
                "lots"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "run",
                "--file",
                "main.ts",
                "--call",
                "m",
                "--idempotent",
                "--deadline-ms",
                "5"
            ])
            .is_ok()
        );
        assert!(
            parse(&["run", "--call", "m"]).is_err(),
            "--file is required"
        );
    }

    #[test]
    fn operator_commands_parse() {
        assert!(parse(&["tenant", "create", "acme", "--admin"]).is_ok());
        assert!(parse(&["tenant", "create"]).is_err(), "a name is required");
        assert!(parse(&["billing", "export", "--from", "2025-01-01"]).is_ok());
        assert!(parse(&["logs", "--id", "w"]).is_ok());
        assert!(parse(&["status"]).is_ok());
        assert!(parse(&["dev", "--data-dir", "/tmp/x"]).is_ok());
        assert!(parse(&["delete"]).is_err(), "--id is required");
    }
}
