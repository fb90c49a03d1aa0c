//! `edgectl exec`: run a Worker locally in a real V8 isolate inside a sandbox
//! process, exactly as a worker node runs it, no cluster, and
//! print exactly one JSON object on stdout:
//! `{"ok":true,"value":...,"stats":{...}}` or `{"ok":false,"error":{"kind":..,"message":..}}`.
//! Exit code 0 on success, 1 when the Worker failed, 2 on a usage error.
//! What the Worker logs goes to stderr, one line each.
//!
//! - `files`: reading modules, never from outside the bundle directory.
//! - `json`: checking JSON text without a tree (any depth).
//! - `output`: what is printed (shared with the client commands).

mod files;
mod json;
pub(crate) mod output;

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
pub struct ExecArgs {
    /// The main module (JS or TS); its default export is the Worker.
    #[arg(long)]
    file: PathBuf,
    /// Another module of the bundle, as SPECIFIER=PATH (e.g. ./util.ts=src/util.ts).
    /// Modules the bundle imports with relative specifiers are also found on
    /// disk, next to --file, without this flag.
    #[arg(long = "module", value_name = "SPECIFIER=PATH")]
    modules: Vec<String>,
    #[command(flatten)]
    invocation: InvocationArgs,
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

/// What to ask of the Worker: a method call or an HTTP request. Shared by
/// `exec` and the client commands `invoke` and `run`.
#[derive(clap::Args, Debug, Default)]
#[group(skip)]
pub(crate) struct InvocationArgs {
    /// Call this method of the default export with --input.
    #[arg(long, value_name = "METHOD", conflicts_with = "fetch")]
    pub(crate) call: Option<String>,
    /// JSON argument for --call.
    #[arg(long, value_name = "JSON", default_value = "null", requires = "call")]
    pub(crate) input: String,
    /// Send a request with this URL to the fetch handler (the default, with http://localhost/).
    #[arg(long, value_name = "URL")]
    pub(crate) fetch: Option<String>,
    /// HTTP method for --fetch.
    #[arg(long, default_value = "GET")]
    pub(crate) method: String,
    /// Request header for --fetch, as NAME:VALUE (repeatable).
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub(crate) headers: Vec<String>,
    /// Request body for --fetch.
    #[arg(long, conflicts_with = "body_file")]
    pub(crate) body: Option<String>,
    /// Request body for --fetch, read from this file.
    #[arg(long, value_name = "PATH")]
    pub(crate) body_file: Option<PathBuf>,
}

/// A failure of the command line itself, before any Worker ran.
pub(crate) struct UsageError(pub(crate) String);

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
    let invocation = args.invocation.invocation()?;
    let bundle = read_bundle(&args.file, &args.modules, &limits)?;
    Ok((bundle, invocation, limits))
}

/// The bundle of `file` (the main module), the `--module SPECIFIER=PATH`
/// files, and the modules they import that are found next to `file`.
pub(crate) fn read_bundle(
    file: &Path,
    module_specs: &[String],
    limits: &Limits,
) -> Result<Bundle, UsageError> {
    let main_name = module_name(file)?;
    let mut modules = vec![Module {
        name: main_name.clone(),
        source: files::read_named(file)?,
    }];
    for spec in module_specs {
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
    gather_imports(&mut bundle, &BundleDir::of(file)?, limits)?;
    Ok(bundle)
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

impl InvocationArgs {
    /// The call or request the flags ask for, checked before any Worker runs.
    pub(crate) fn invocation(&self) -> Result<Invocation, UsageError> {
        if let Some(method) = &self.call {
            json::compact(&self.input)
                .map_err(|e| UsageError(format!("--input is not valid JSON: {e}")))?;
            return Ok(Invocation::Call {
                method: method.clone(),
                input_json: self.input.clone(),
            });
        }
        let headers = self
            .headers
            .iter()
            .map(|header| parse_header(header))
            .collect::<Result<Vec<_>, _>>()?;
        let body = match (&self.body, &self.body_file) {
            (_, Some(path)) => std::fs::read(path).map_err(|e| {
                UsageError(format!("--body-file {}: cannot read: {e}", path.display()))
            })?,
            (Some(body), None) => body.clone().into_bytes(),
            (None, None) => Vec::new(),
        };
        let request = HttpRequest {
            method: self.method.to_ascii_uppercase(),
            url: self
                .fetch
                .clone()
                .unwrap_or_else(|| "http://localhost/".into()),
            headers,
            body,
        };
        request
            .validate()
            .map_err(|e| UsageError(format!("--fetch/--method/--header/--body: {}", e.message)))?;
        Ok(Invocation::Fetch(request))
    }
}

/// `NAME:VALUE`, both trimmed; the value may itself hold colons.
fn parse_header(header: &str) -> Result<(String, String), UsageError> {
    let (name, value) = header
        .split_once(':')
        .ok_or_else(|| UsageError(format!("--header {header}: expected NAME:VALUE")))?;
    Ok((name.trim().to_owned(), value.trim().to_owned()))
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
