//! `edgectl exec`: run a Worker locally and print one JSON object.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ExecArgs {}

pub fn run(_args: ExecArgs) -> ExitCode {
    ExitCode::from(2)
}
