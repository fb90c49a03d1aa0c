//! `edgectl exec`: run a Worker locally in a real V8 isolate inside a sandbox
//! process, exactly as a worker node runs it, no cluster, and
//! print exactly one JSON object on stdout:
//! `{"ok":true,"value":...,"stats":{...}}` or `{"ok":false,"error":{"kind":..,"message":..}}`.
//! Exit code 0 on success, 1 when the Worker failed, 2 on a usage error.
//! What the Worker logs goes to stderr, one line each.
//!
//! - `files`: reading modules, never from outside the bundle directory.
//! - `json`: checking JSON text without a tree (any depth).
//! - `output`: what is printed.

mod files;
mod json;
mod output;

use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use edge_engine::Bundle;
use edge_engine::ErrorKind;
use edge_engine::HttpRequest;
use edge_engine::Invocation;
use edge_engine::Limits;
use edge_engine::Module;
use edge_engine::NoHostFunctions;
use edge_engine::WorkerError;
use edge_engine::loader;
use edge_sandbox::SandboxConfig;
use edge_sandbox::Supervisor;

use self::files::BundleDir;
use self::output::print_error;
use self::output::print_logs;

#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("invocation").args(["call", "fetch"]))]
pub struct ExecArgs {
    /// The main module (JS or TS); its default export is the Worker.
    #[arg(long)]
    file: PathBuf,
    /// Another module of the bundle, as SPECIFIER=PATH (e.g. ./util.ts=src/util.ts).
    /// Modules the bundle imports with relative specifiers are also found on
    /// disk, next to --file, without this flag.
    #[arg(long = "module", value_name = "SPECIFIER=PATH")]
    modules: Vec<String>,
    /// Call this method of the default export with --input.
    #[arg(long, value_name = "METHOD")]
    call: Option<String>,
    /// JSON argument for --call.
    #[arg(long, value_name = "JSON", default_value = "null", requires = "call")]
    input: String,
    /// Send a request with this URL to the fetch handler (the default, with http://localhost/).
    #[arg(long, value_name = "URL")]
    fetch: Option<String>,
    /// HTTP method for --fetch.
    #[arg(long, default_value = "GET")]
    method: String,
    /// Request header for --fetch, as NAME:VALUE (repeatable).
    #[arg(long = "header", value_name = "NAME:VALUE")]
    headers: Vec<String>,
    /// Request body for --fetch.
    #[arg(long)]
    body: Option<String>,
    /// Heap limit of the isolate in MiB.
    #[arg(long, default_value_t = 128)]
    memory_mb: u64,
    /// Wall-time limit of the invocation in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// CPU-time limit of the invocation in milliseconds (defaults to --timeout-ms).
    #[arg(long)]
    cpu_ms: Option<u64>,
}

/// A failure of the command line itself, before any Worker ran.
struct UsageError(String);

pub fn run(args: ExecArgs) -> ExitCode {
    match prepare(&args) {
        Err(UsageError(message)) => {
            print_error(&WorkerError::new(ErrorKind::BadRequest, message));
            ExitCode::from(2)
        }
        Ok((bundle, invocation, limits)) => execute(&bundle, &invocation, limits),
    }
}

fn prepare(args: &ExecArgs) -> Result<(Bundle, Invocation, Limits), UsageError> {
    let limits = limits(args)?;
    let invocation = invocation(args)?;
    let main_name = module_name(&args.file)?;
    let mut modules = vec![Module {
        name: main_name.clone(),
        source: files::read_named(&args.file)?,
    }];
    for spec in &args.modules {
        let (name, path) = spec
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--module {spec}: expected SPECIFIER=PATH")))?;
        modules.push(Module {
            name: name.to_owned(),
            source: files::read_named(Path::new(path))?,
        });
    }
    let mut bundle = Bundle {
        modules,
        main_module: main_name,
    };
    gather_imports(&mut bundle, &BundleDir::of(&args.file)?, &limits)?;
    Ok((bundle, invocation, limits))
}

const MIB: u64 = 1024 * 1024;

/// The limits the flags ask for, each within the engine's documented range.
fn limits(args: &ExecArgs) -> Result<Limits, UsageError> {
    let memory_bytes = args
        .memory_mb
        .checked_mul(MIB)
        .filter(|bytes| (Limits::MIN_MEMORY_BYTES..=Limits::MAX_MEMORY_BYTES).contains(bytes))
        .ok_or_else(|| {
            UsageError(format!(
                "--memory-mb {}: the heap limit must be between {} and {} MiB",
                args.memory_mb,
                Limits::MIN_MEMORY_BYTES / MIB,
                Limits::MAX_MEMORY_BYTES / MIB
            ))
        })?;
    let millis = |flag: &str, ms: u64, max: Duration| {
        let time = Duration::from_millis(ms);
        if time < Limits::MIN_TIME || time > max {
            return Err(UsageError(format!(
                "{flag} {ms}: must be between {} and {} milliseconds",
                Limits::MIN_TIME.as_millis(),
                max.as_millis()
            )));
        }
        Ok(time)
    };
    let limits = Limits {
        memory_bytes,
        wall_time: millis("--timeout-ms", args.timeout_ms, Limits::MAX_WALL_TIME)?,
        cpu_time: millis(
            "--cpu-ms",
            args.cpu_ms.unwrap_or(args.timeout_ms),
            Limits::MAX_CPU_TIME,
        )?,
        ..Limits::default()
    };
    limits.validate().map_err(|e| UsageError(e.message))?;
    Ok(limits)
}

/// The call or request the flags ask for, checked before any Worker runs.
fn invocation(args: &ExecArgs) -> Result<Invocation, UsageError> {
    if let Some(method) = &args.call {
        json::compact(&args.input)
            .map_err(|e| UsageError(format!("--input is not valid JSON: {e}")))?;
        return Ok(Invocation::Call {
            method: method.clone(),
            input_json: args.input.clone(),
        });
    }
    let mut headers = Vec::new();
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| UsageError(format!("--header {header}: expected NAME:VALUE")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let request = HttpRequest {
        method: args.method.to_ascii_uppercase(),
        url: args
            .fetch
            .clone()
            .unwrap_or_else(|| "http://localhost/".into()),
        headers,
        body: args.body.clone().unwrap_or_default().into_bytes(),
    };
    request
        .validate()
        .map_err(|e| UsageError(format!("--fetch/--method/--header/--body: {}", e.message)))?;
    Ok(Invocation::Fetch(request))
}

/// Most modules `edgectl exec` reads from disk on its own for one bundle.
const MAX_GATHERED_MODULES: usize = 256;

/// Adds to `bundle` the modules it imports that are files in `dir` (the
/// main module's directory), the way the loader resolves specifiers: the
/// loader names each import it cannot resolve, and that import's candidates
/// are looked up on disk. Imports that stay unresolved are left for the load
/// to report; nothing outside `dir` is read (see `files`), and gathering
/// stops once the bundle passes its size limit (the load reports that too).
fn gather_imports(bundle: &mut Bundle, dir: &BundleDir, limits: &Limits) -> Result<(), UsageError> {
    for _ in 0..MAX_GATHERED_MODULES {
        if bundle.size_bytes() > limits.max_bundle_bytes {
            return Ok(());
        }
        let Err(error) = loader::compile_bundle(bundle) else {
            return Ok(());
        };
        let Some(specifier) = &error.unresolved else {
            return Ok(());
        };
        let mut found = None;
        for name in loader::import_candidates(specifier, &error.module) {
            if let Some(source) = dir.read(&name)? {
                found = Some((name, source));
                break;
            }
        }
        let Some((name, source)) = found else {
            return Ok(());
        };
        bundle.modules.push(Module {
            name: format!("./{name}"),
            source,
        });
    }
    Err(UsageError(format!(
        "the bundle imports more than {MAX_GATHERED_MODULES} modules; pass them with --module"
    )))
}

/// The main module's specifier: its file name, as other modules import it.
fn module_name(path: &Path) -> Result<String, UsageError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| UsageError(format!("--file {}: not a file name", path.display())))?;
    Ok(format!("./{name}"))
}

/// Runs the Worker exactly as a worker node does: in a sandbox process (this
/// binary re-executed, see `edge_sandbox`) with its memory cgroup,
/// empty network namespace and seccomp filter, through the supervisor.
fn execute(bundle: &Bundle, invocation: &Invocation, limits: Limits) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            print_error(&WorkerError::new(
                ErrorKind::Crashed,
                format!("cannot start the runtime: {e}"),
            ));
            return ExitCode::from(1);
        }
    };
    runtime.block_on(execute_sandboxed(bundle, invocation, limits))
}

async fn execute_sandboxed(bundle: &Bundle, invocation: &Invocation, limits: Limits) -> ExitCode {
    let config = SandboxConfig {
        // One sandbox, started for this Worker; nothing kept warm.
        warm_sandboxes: 0,
        prewarmed_isolates: 1,
        memory_per_isolate: limits
            .memory_bytes
            .max(SandboxConfig::default().memory_per_isolate),
        memory_per_tenant: u64::MAX,
        ..SandboxConfig::default()
    };
    let supervisor = match Supervisor::start(config).await {
        Ok(supervisor) => supervisor,
        Err(e) => {
            print_error(&WorkerError::new(ErrorKind::Crashed, e.to_string()));
            return ExitCode::from(1);
        }
    };
    let code = run_in(&supervisor, bundle, invocation, limits).await;
    supervisor.shutdown().await;
    code
}

async fn run_in(
    supervisor: &Supervisor,
    bundle: &Bundle,
    invocation: &Invocation,
    limits: Limits,
) -> ExitCode {
    let load = match supervisor.load("edgectl-exec", bundle, limits).await {
        Ok(load) => load,
        Err(error) => {
            print_error(&error.into_worker_error());
            return ExitCode::from(1);
        }
    };
    print_logs(&load.logs);
    let mut outcome = supervisor
        .invoke(&load.handle, invocation, Arc::new(NoHostFunctions))
        .await;
    // Outcomes carry the heap as last measured (measuring costs the isolate
    // about 0.5 ms, too much for every call); one command can afford a
    // fresh figure, after the invocation.
    if outcome.result.is_ok()
        && let Ok(Some(bytes)) = supervisor.heap_used(&load.handle).await
    {
        outcome.stats.heap_used_bytes = bytes;
    }
    print_logs(&outcome.logs);
    match outcome.result {
        Ok(value) => {
            if output::print_value(value, load.load_ms, &outcome.stats) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            print_error(&error);
            ExitCode::from(1)
        }
    }
}
