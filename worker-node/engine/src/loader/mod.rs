//! Turns a Worker bundle (ES modules in JS or TS) into one classic script V8 can run.
//!
//! Each module goes through oxc: parse (TypeScript when the name ends in `.ts`,
//! `.mts` or `.cts`), early-error checks, TypeScript stripping (enums and namespaces
//! are compiled), import specifiers resolved against the bundle at compile time, then
//! oxc's `ModuleRunnerTransform` (Vite SSR style) rewrites `import`/`export` into
//! calls on a small module registry (`runtime.js`), and `oxc_codegen` prints it.
//! No code is rewritten with string search. JSX is not supported: `.jsx`/`.tsx`
//! modules are parsed as JS/TS.
//!
//! Untrusted source cannot crash the compiling process: before oxc sees a module,
//! [`nesting`] bounds how deeply it nests with an iterative scan (deeper is a
//! `CompileError`), and the bundle compiles on a thread of its own whose stack
//! holds that bound many times over ([`COMPILE_STACK_BYTES`]).
//!
//! # The generated script
//!
//! Evaluated once as a classic script in a global with only JavaScript builtins, it
//! sets `globalThis.__edge_main` and nothing else: a Promise of the main module's
//! namespace object (`(await globalThis.__edge_main).default` is the Worker), or
//! rejected with whatever a module threw while evaluating. Modules are evaluated at
//! most once, lazily from the main module, imports first, in source order; a module
//! body is an async function, so top-level await works. In an import cycle, the
//! module that closes the cycle gets the partially filled namespace of the module
//! still evaluating (like `CommonJS`) instead of waiting forever. Exports are getters,
//! so `export let` bindings are live. `import.meta` is `{ url: "bundle:///<path>" }`.
//! `import(expr)` returns a Promise of the namespace; a non-literal specifier is
//! resolved at run time (same rules) and rejects with an `Error` whose `code` is
//! `ERR_MODULE_NOT_FOUND` when it names no module of the bundle.

pub mod nesting;
mod resolve;
mod transform;

#[cfg(test)]
mod deep_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod stack_cost;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;
use std::sync::mpsc;

use crate::types::Bundle;

/// Why a bundle could not be compiled. `line` and `column` are 1-based positions
/// (column in characters) in the original source of `module`; both are 0 for
/// errors about the bundle itself (missing main module, duplicate names, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{module}:{line}:{column}: {message}")]
pub struct CompileError {
    /// The module's name as the bundle spells it.
    pub module: String,
    /// 1-based line in the module's source (0: about the bundle).
    pub line: u32,
    /// 1-based column in characters (0: about the bundle).
    pub column: u32,
    /// What is wrong.
    pub message: String,
    /// For an import that names no module of the bundle: its specifier, so
    /// tools that gather a bundle from disk can look for it
    /// ([`import_candidates`]).
    pub unresolved: Option<String>,
}

impl CompileError {
    fn bundle(module: &str, message: String) -> Self {
        CompileError {
            module: module.to_owned(),
            line: 0,
            column: 0,
            message,
            unresolved: None,
        }
    }
}

/// The global the script assigns.
pub const MAIN_GLOBAL: &str = "__edge_main";

const RUNTIME: &str = include_str!("runtime.js");

const FACTORY_PARAMS: &str = "__vite_ssr_exports__, __vite_ssr_import__, \
    __vite_ssr_dynamic_import__, __vite_ssr_exportAll__, __vite_ssr_import_meta__";

/// The module names (bundle-relative, like `lib/util.ts`) that `specifier`,
/// imported by module `importer`, may name, in the order the loader tries
/// them; empty for a specifier that can only name something outside the
/// bundle. For tools that gather a bundle's modules from disk.
pub fn import_candidates(specifier: &str, importer: &str) -> Vec<String> {
    match resolve::canonical_module_name(importer) {
        Ok(importer) => resolve::candidates_for(specifier, &importer),
        Err(_) => Vec::new(),
    }
}

/// Compiles `bundle` into one classic script (see the module docs for its contract).
///
/// The work runs on the process's compiler thread, whose stack is
/// [`COMPILE_STACK_BYTES`], whatever thread calls this: no module, however
/// deeply it nests, can overflow it (see [`nesting`]). One long-lived
/// thread rather than one per compile: creating a thread per load costs a
/// large stack mapping each time, and thread creation stalls while the
/// host moves other processes between cgroups (as the supervisor does
/// with every new sandbox). Compiles in one process take turns.
///
/// # Errors
///
/// The first problem found, in bundle order: an empty bundle, an invalid or
/// duplicate module name, a main module not in the bundle, then per module
/// nesting deeper than [`nesting::MAX_NESTING`], a syntax or early error,
/// unsupported syntax (JSX, decorators, `require`), or an import that names
/// no module of the bundle.
pub fn compile_bundle(bundle: &Bundle) -> Result<String, CompileError> {
    let (reply, answer) = mpsc::channel();
    let job = CompileJob {
        bundle: bundle.clone(),
        reply,
    };
    let unavailable = |why: &str| {
        CompileError::bundle(
            &bundle.main_module,
            format!("internal compiler error: {why}"),
        )
    };
    let sent = compiler()
        .map_err(|e| unavailable(&format!("cannot start the compiler thread: {e}")))?
        .send(job);
    if sent.is_err() {
        return Err(unavailable("the compiler thread is gone"));
    }
    answer
        .recv()
        .unwrap_or_else(|_| Err(unavailable("the compiler thread stopped")))
}

/// One bundle for the compiler thread, and where its script goes.
struct CompileJob {
    bundle: Bundle,
    reply: mpsc::Sender<Result<String, CompileError>>,
}

/// The process's compiler thread, started on first use.
fn compiler() -> Result<&'static mpsc::Sender<CompileJob>, std::io::Error> {
    static COMPILER: OnceLock<mpsc::Sender<CompileJob>> = OnceLock::new();
    if let Some(compiler) = COMPILER.get() {
        return Ok(compiler);
    }
    let (jobs, queue) = mpsc::channel::<CompileJob>();
    std::thread::Builder::new()
        .name("edge-compile".to_owned())
        .stack_size(COMPILE_STACK_BYTES)
        .spawn(move || {
            for job in queue {
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    compile_on_this_thread(&job.bundle)
                }))
                .unwrap_or_else(|_| {
                    Err(CompileError::bundle(
                        &job.bundle.main_module,
                        "internal compiler error: the compiler panicked".to_owned(),
                    ))
                });
                let _ = job.reply.send(result);
            }
        })?;
    // Two first callers may race: the loser's thread ends when its sender drops.
    Ok(COMPILER.get_or_init(|| jobs))
}

/// Stack of the thread that compiles a bundle. [`nesting::MAX_NESTING`]
/// units took at most 6.2 MB of it in a debug build (1.55 KB per unit, for
/// destructuring defaults in arrow parameters) and 3.7 MB in a release
/// build (0.9 KB per unit), so this is twenty times what the deepest module
/// accepted has needed (`loader/stack_cost.rs` measures it). Only the pages
/// a compile touches are committed; the rest is address space.
pub const COMPILE_STACK_BYTES: usize = 128 * 1024 * 1024;

fn compile_on_this_thread(bundle: &Bundle) -> Result<String, CompileError> {
    if bundle.modules.is_empty() {
        return Err(CompileError::bundle(
            &bundle.main_module,
            "the bundle has no modules".to_owned(),
        ));
    }

    let mut by_canonical: BTreeMap<String, &str> = BTreeMap::new();
    let mut canonical_names = Vec::with_capacity(bundle.modules.len());
    for module in &bundle.modules {
        let canonical = resolve::canonical_module_name(&module.name).map_err(|why| {
            CompileError::bundle(
                &module.name,
                format!("invalid module name {:?}: {why}", module.name),
            )
        })?;
        if let Some(other) = by_canonical.insert(canonical.clone(), &module.name) {
            return Err(CompileError::bundle(
                &module.name,
                format!(
                    "duplicate module: {:?} and {other:?} are both {}",
                    module.name,
                    resolve::display_name(&canonical)
                ),
            ));
        }
        canonical_names.push(canonical);
    }
    let modules: BTreeSet<String> = by_canonical.keys().cloned().collect();

    let main = resolve::canonical_module_name(&bundle.main_module)
        .ok()
        .filter(|m| modules.contains(m))
        .ok_or_else(|| {
            let list: Vec<String> = modules.iter().map(|m| resolve::display_name(m)).collect();
            CompileError::bundle(
                &bundle.main_module,
                format!(
                    "the main module {:?} is not in the bundle (modules: {})",
                    bundle.main_module,
                    list.join(", ")
                ),
            )
        })?;

    let mut script = String::with_capacity(bundle.size_bytes() * 2 + RUNTIME.len() + 1024);
    script
        .push_str("(function () {\n\"use strict\";\nconst __edge_modules = Object.create(null);\n");
    for (module, canonical) in bundle.modules.iter().zip(&canonical_names) {
        let cx = transform::ModuleContext {
            name: &module.name,
            canonical,
            modules: &modules,
        };
        let body = compile_module_guarded(&cx, &module.source)?;
        let typescript = transform::Language::of(canonical).typescript;
        let key = serde_json::to_string(canonical).expect("a string serialises");
        let _ = write!(
            script,
            "// {}\n__edge_modules[{key}] = [{typescript}, async function ({FACTORY_PARAMS}) {{\n{body}\n}}];\n",
            resolve::display_name(canonical),
        );
    }
    script.push_str(RUNTIME);
    let main_key = serde_json::to_string(&main).expect("a string serialises");
    let _ = write!(
        script,
        "\nglobalThis.{MAIN_GLOBAL} = __edge_evaluate(__edge_record({main_key}));\n}})();\n"
    );
    Ok(script)
}

/// A bug in the compiler must not take the worker node down with it.
fn compile_module_guarded(
    cx: &transform::ModuleContext<'_>,
    source: &str,
) -> Result<String, CompileError> {
    std::panic::catch_unwind(AssertUnwindSafe(|| transform::compile_module(cx, source)))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(CompileError::bundle(
                cx.name,
                format!("internal compiler error while compiling this module: {what}"),
            ))
        })
}
