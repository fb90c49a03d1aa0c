//! `edgectl exec`: run a Worker locally in a real V8 isolate inside a sandbox
//! process, exactly as a worker node runs it, no cluster, and
//! print exactly one JSON object on stdout:
//! `{"ok":true,"value":...,"stats":{...}}` or `{"ok":false,"error":{"kind":..,"message":..}}`.
//! Exit code 0 on success, 1 when the Worker failed, 2 on a usage error.
//! What the Worker logs goes to stderr, one line each.

use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use edge_engine::Bundle;
use edge_engine::ErrorKind;
use edge_engine::HttpRequest;
use edge_engine::Invocation;
use edge_engine::InvocationValue;
use edge_engine::Limits;
use edge_engine::Module;
use edge_engine::NoHostFunctions;
use edge_engine::WorkerError;
use edge_engine::loader;
use edge_sandbox::SandboxConfig;
use edge_sandbox::Supervisor;
use serde_json::Value;
use serde_json::json;

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
    let main_name = module_name(&args.file)?;
    let mut modules = vec![Module {
        name: main_name.clone(),
        source: read(&args.file)?,
    }];
    for spec in &args.modules {
        let (name, path) = spec
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--module {spec}: expected SPECIFIER=PATH")))?;
        modules.push(Module {
            name: name.to_owned(),
            source: read(Path::new(path))?,
        });
    }
    let mut bundle = Bundle {
        modules,
        main_module: main_name,
    };
    let root = args.file.parent().unwrap_or(Path::new("."));
    gather_imports(&mut bundle, root)?;
    let invocation = match &args.call {
        Some(method) => {
            serde_json::from_str::<Value>(&args.input)
                .map_err(|e| UsageError(format!("--input is not valid JSON: {e}")))?;
            Invocation::Call {
                method: method.clone(),
                input_json: args.input.clone(),
            }
        }
        None => {
            let mut headers = Vec::new();
            for header in &args.headers {
                let (name, value) = header
                    .split_once(':')
                    .ok_or_else(|| UsageError(format!("--header {header}: expected NAME:VALUE")))?;
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            Invocation::Fetch(HttpRequest {
                method: args.method.to_uppercase(),
                url: args
                    .fetch
                    .clone()
                    .unwrap_or_else(|| "http://localhost/".into()),
                headers,
                body: args.body.clone().unwrap_or_default().into_bytes(),
            })
        }
    };
    if args.memory_mb == 0 || args.timeout_ms == 0 || args.cpu_ms == Some(0) {
        return Err(UsageError(
            "--memory-mb, --timeout-ms and --cpu-ms must be positive".into(),
        ));
    }
    let limits = Limits {
        memory_bytes: args.memory_mb * 1024 * 1024,
        wall_time: Duration::from_millis(args.timeout_ms),
        cpu_time: Duration::from_millis(args.cpu_ms.unwrap_or(args.timeout_ms)),
        ..Limits::default()
    };
    Ok((bundle, invocation, limits))
}

/// Most modules `edgectl exec` reads from disk on its own for one bundle.
const MAX_GATHERED_MODULES: usize = 256;

/// Adds to `bundle` the modules it imports that are files under `root` (the
/// main module's directory), the way the loader resolves specifiers: the
/// loader names each import it cannot resolve, and that import's candidates
/// are looked up on disk. Imports that stay unresolved are left for the load
/// to report; nothing outside `root` is read.
fn gather_imports(bundle: &mut Bundle, root: &Path) -> Result<(), UsageError> {
    for _ in 0..MAX_GATHERED_MODULES {
        let Err(error) = loader::compile_bundle(bundle) else {
            return Ok(());
        };
        let Some(specifier) = &error.unresolved else {
            return Ok(());
        };
        let found = loader::import_candidates(specifier, &error.module)
            .into_iter()
            .find(|name| root.join(name).is_file());
        let Some(name) = found else {
            return Ok(());
        };
        let source = read(&root.join(&name))?;
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

fn read(path: &Path) -> Result<String, UsageError> {
    std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))
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
    let outcome = supervisor
        .invoke(&load.handle, invocation, Arc::new(NoHostFunctions))
        .await;
    print_logs(&outcome.logs);
    match outcome.result {
        Ok(value) => {
            let stats = json!({
                "load_ms": load.load_ms + outcome.stats.load_ms,
                "run_ms": outcome.stats.run_ms,
                "cpu_ms": outcome.stats.cpu_ms,
                "heap_used_bytes": outcome.stats.heap_used_bytes,
            });
            println!(
                "{}",
                json!({"ok": true, "value": value_json(value), "stats": stats})
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            print_error(&error);
            ExitCode::from(1)
        }
    }
}

fn value_json(value: InvocationValue) -> Value {
    match value {
        InvocationValue::Json(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        InvocationValue::Http(response) => {
            let mut headers = serde_json::Map::new();
            for (name, value) in response.headers {
                headers.insert(name, Value::String(value));
            }
            let mut out = json!({"status": response.status, "headers": headers});
            match String::from_utf8(response.body) {
                Ok(text) => out["body"] = text.into(),
                Err(e) => {
                    use base64::Engine as _;
                    let bytes = e.into_bytes();
                    out["body"] = String::from_utf8_lossy(&bytes).into_owned().into();
                    out["body_base64"] = base64::engine::general_purpose::STANDARD
                        .encode(&bytes)
                        .into();
                }
            }
            out
        }
    }
}

fn print_error(error: &WorkerError) {
    println!(
        "{}",
        json!({"ok": false, "error": {"kind": error.kind.as_str(), "message": error.message}})
    );
}

fn print_logs(lines: &[edge_engine::LogLine]) {
    for line in lines {
        eprintln!("[{}] {}", line.level, line.message);
    }
}
