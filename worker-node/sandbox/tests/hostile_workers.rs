//! The hostile-Worker corpus: one Worker per attack (`tests/hostile/*.js`),
//! each run through a real sandbox and held to its expected outcome and
//! bounds, then followed by an ordinary request on a fresh load for the same
//! tenant, which must succeed.
//!
//! Every case runs under tight limits (1 s wall, 1 s CPU, 64 MiB, 1 MiB of
//! output) unless marked `roomy` (2 s, 160 MiB: room to build a 30 MiB payload,
//! so the case tests its crossing rather than the heap). Sources may contain
//! `@@REPEAT n text@@`, expanded here (deep nesting without megabyte files),
//! and whole lines `@@INCLUDE path@@`, replaced by that file of the corpus
//! (code several attacks share, such as the rng_* Workers' predictor).
//!
//! `HOSTILE_FILTER=substring` runs only the matching cases.

mod sandbox_support;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use edge_engine::Bundle;
use edge_engine::ErrorKind;
use edge_engine::HostFunctions;
use edge_engine::HttpRequest;
use edge_engine::Invocation;
use edge_engine::InvocationValue;
use edge_engine::Limits;
use edge_engine::LogLine;
use edge_engine::NoHostFunctions;
use edge_engine::Outcome;
use edge_engine::WorkerError;
use edge_sandbox::IsolateHandle;
use edge_sandbox::SandboxConfig;
use edge_sandbox::Supervisor;
use sandbox_support::*;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use Check::*;
use Expect::Fails;
use Expect::LoadFails;
use Expect::Succeeds;
use Expect::SucceedsOr;
use Inv::*;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
/// The output limit every case runs with.
const OUTPUT_LIMIT: usize = MIB;
/// Most bytes a bounded outcome may carry: the output limit plus 1 MiB.
const BOUNDED: usize = OUTPUT_LIMIT + MIB;
/// Most bytes an outcome that should say little may carry.
const SMALL: usize = 64 * KIB;
/// Wall-time bound of a case under the 1 s limits (~2 s plus scheduling).
const FAST: u64 = 2_500;
/// Wall-time bound of a roomy case (2 s limits) or a sandbox killed and replaced.
const SLOW: u64 = 4_500;
/// Wall-time bound of a load stopped by a limit (loads get at least 5 s).
const LOAD_STOPPED: u64 = 8_000;
/// Wall-time bound of a compile error on a deeply nested source.
const COMPILE: u64 = 10_000;
/// A case (hostile part and follow-up) that takes longer than this hangs.
const CASE_GUARD: Duration = Duration::from_secs(60);
/// Cases run at once (the machine has 2 cores).
const CONCURRENCY: usize = 3;
/// An assigned sandbox holding no Worker is stopped after this.
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// Most resident memory of the supervisor (this process) after the corpus.
const SUPERVISOR_RSS_AFTER: u64 = 256 << 20;
/// Most resident memory of the supervisor at any sample during the corpus
/// (one case sends a 70 MiB input on purpose).
const SUPERVISOR_RSS_PEAK: u64 = 1 << 30;
/// How often the supervisor's resident memory is sampled.
const RSS_SAMPLE: Duration = Duration::from_millis(50);
/// Least number of cases in the corpus.
const MIN_CASES: usize = 60;
/// Where the Workers live.
const CORPUS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile");

const COMPILE_ERR: &[ErrorKind] = &[ErrorKind::Compile];
const RUNTIME: &[ErrorKind] = &[ErrorKind::Runtime];
const TIMEOUT: &[ErrorKind] = &[ErrorKind::Timeout];
const MEMORY: &[ErrorKind] = &[ErrorKind::Memory];
const TOO_LARGE: &[ErrorKind] = &[ErrorKind::OutputTooLarge];
const TOO_LARGE_OR_RUNTIME: &[ErrorKind] = &[ErrorKind::OutputTooLarge, ErrorKind::Runtime];
const NOT_FOUND: &[ErrorKind] = &[ErrorKind::NotFound, ErrorKind::BadRequest];
const BAD_REQUEST: &[ErrorKind] = &[ErrorKind::BadRequest];
/// A flood stopped by a limit, or by a cap the runtime reports as an error.
const STOPPED: &[ErrorKind] = &[ErrorKind::Timeout, ErrorKind::Runtime];
/// A failure whose description runs the Worker's own code (a getter on the
/// thrown error, `Error.prepareStackTrace`) and that code never returns: the
/// Worker's code ran past the wall-time limit, which is what `timeout` says.
/// Either way the verdict is the host's and arrives within the limit.
const OWN_CODE_LOOPS: &[ErrorKind] = &[ErrorKind::Runtime, ErrorKind::Timeout];

/// What a case expects.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The load and the invocation succeed.
    Succeeds,
    /// The invocation succeeds or fails with one of these kinds.
    SucceedsOr(&'static [ErrorKind]),
    /// The load succeeds; the invocation fails with one of these kinds.
    Fails(&'static [ErrorKind]),
    /// The load fails with one of these kinds.
    LoadFails(&'static [ErrorKind]),
}

/// How a case invokes its Worker.
#[derive(Debug, Clone, Copy)]
enum Inv {
    /// `run(null)`.
    Run,
    /// `GET http://localhost/`.
    Fetch,
    /// `run` under a method name of this many bytes.
    HugeMethod(usize),
    /// `run` with a JSON string input of this many bytes.
    HugeInput(usize),
    /// `run` with arrays nested this deep as input.
    DeepInput(usize),
}

/// Extra assertions on an outcome.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// The value's JSON is exactly this.
    ValueIs(&'static str),
    /// The value's JSON contains this.
    ValueHas(&'static str),
    /// The error message contains this.
    MessageHas(&'static str),
    /// Some log line contains this.
    LogHas(&'static str),
    /// The error message or a log line marks a cut ("…", "truncated", "dropped").
    Truncated,
    /// The value's JSON nests this deep.
    Depth(usize),
    /// The response carries this header this many times.
    Header(&'static str, usize),
}

/// The bindings a case's Worker gets.
#[derive(Debug, Clone, Copy)]
enum Host {
    None,
    /// `env.ping()`, answered with `1` by the supervisor.
    Ping,
}

/// One attack: its Worker, invocation, expectation and bounds.
#[derive(Debug, Clone, Copy)]
struct Case {
    name: &'static str,
    file: &'static str,
    invocation: Inv,
    expect: Expect,
    max_bytes: usize,
    max_wall_ms: u64,
    roomy: bool,
    host: Host,
    checks: &'static [Check],
}

const fn case(
    name: &'static str,
    file: &'static str,
    invocation: Inv,
    expect: Expect,
    max_bytes: usize,
    max_wall_ms: u64,
) -> Case {
    Case {
        name,
        file,
        invocation,
        expect,
        max_bytes,
        max_wall_ms,
        roomy: false,
        host: Host::None,
        checks: &[],
    }
}

impl Case {
    /// 2 s limits and 160 MiB of memory.
    const fn roomy(mut self) -> Case {
        self.roomy = true;
        self
    }

    /// The Worker gets `env.ping`.
    const fn ping(mut self) -> Case {
        self.host = Host::Ping;
        self
    }

    const fn check(mut self, checks: &'static [Check]) -> Case {
        self.checks = checks;
        self
    }
}

const PREDICTION_WRONG: &[Check] = &[ValueHas("\"predicted\":false")];
const TRUTH: &[Check] = &[MessageHas("truth")];
const REAL: &[Check] = &[ValueIs("\"real\"")];
const LOGGED: &[Check] = &[ValueIs("\"logged\"")];

/// The corpus. Columns: name, Worker file, invocation, expected outcome, most
/// bytes of the whole outcome (value + error message + logs), most wall ms of
/// the hostile load and invocation; then options.
#[rustfmt::skip]
const CASES: &[Case] = &[
    // ---- source nesting: a compile error, the sandbox survives ----
    case("nest_parens_5500", "nest_parens_5500.js", Run, LoadFails(COMPILE_ERR), SMALL, COMPILE),
    case("nest_parens_100k", "nest_parens_100k.js", Run, LoadFails(COMPILE_ERR), SMALL, COMPILE),
    case("concat_chain_100k", "concat_chain_100k.js", Run, LoadFails(COMPILE_ERR), SMALL, COMPILE),
    case("nest_arrays_100k", "nest_arrays_100k.js", Run, LoadFails(COMPILE_ERR), SMALL, COMPILE),
    case("nest_objects_50k", "nest_objects_50k.js", Run, LoadFails(COMPILE_ERR), SMALL, COMPILE),
    case("nest_templates_20k", "nest_templates_20k.js", Run, LoadFails(COMPILE_ERR), SMALL, COMPILE),
    case("unary_not_100k", "unary_not_100k.js", Run, LoadFails(COMPILE_ERR), SMALL, COMPILE),
    case("unary_typeof_50k", "unary_typeof_50k.js", Run, LoadFails(COMPILE_ERR), SMALL, COMPILE),
    case("nest_blocks_50k", "nest_blocks_50k.js", Run, LoadFails(COMPILE_ERR), SMALL, COMPILE),
    case("nest_arrows_20k", "nest_arrows_20k.js", Run, LoadFails(COMPILE_ERR), SMALL, COMPILE),
    case("nest_ternary_50k", "nest_ternary_50k.js", Run, LoadFails(COMPILE_ERR), SMALL, COMPILE),
    // ---- oversized crossings: bounded, cut explicitly ----
    case("throw_30mib_error", "throw_30mib_error.js", Run, Fails(RUNTIME), BOUNDED, SLOW).roomy().check(&[Truncated]),
    case("throw_30mib_string", "throw_30mib_string.js", Run, Fails(RUNTIME), BOUNDED, SLOW).roomy().check(&[Truncated]),
    case("throw_30mib_object", "throw_30mib_object.js", Run, Fails(RUNTIME), BOUNDED, SLOW).roomy().check(&[Truncated]),
    case("reject_30mib_error", "reject_30mib_error.js", Run, Fails(RUNTIME), BOUNDED, SLOW).roomy().check(&[Truncated]),
    case("error_stack_30mib", "error_stack_30mib.js", Run, Fails(RUNTIME), BOUNDED, SLOW).roomy().check(&[Truncated]),
    case("fetch_header_30mib", "fetch_header_30mib.js", Fetch, Fails(TOO_LARGE_OR_RUNTIME), BOUNDED, SLOW).roomy(),
    case("fetch_headers_10k", "fetch_headers_10k.js", Fetch, Fails(TOO_LARGE_OR_RUNTIME), BOUNDED, SLOW).roomy(),
    case("fetch_body_40mib", "fetch_body_40mib.js", Fetch, Fails(TOO_LARGE), BOUNDED, SLOW).roomy(),
    case("result_100mb", "result_100mb.js", Run, Fails(TOO_LARGE), BOUNDED, SLOW).roomy(),
    case("result_getter_flood", "result_getter_flood.js", Run, Fails(TOO_LARGE), BOUNDED, SLOW).roomy(),
    case("console_1m_lines", "console_1m_lines.js", Run, Succeeds, BOUNDED, SLOW).roomy().check(&[ValueIs("\"logged\""), Truncated]),
    case("console_20mib_line", "console_20mib_line.js", Run, Succeeds, BOUNDED, SLOW).roomy().check(&[ValueIs("\"logged\""), Truncated]),
    case("console_huge_objects", "console_huge_objects.js", Run, Succeeds, BOUNDED, SLOW).roomy().check(LOGGED),
    case("load_logs_then_throws", "load_logs_then_throws.js", Run, LoadFails(RUNTIME), BOUNDED, LOAD_STOPPED).roomy().check(&[MessageHas("top-level failure"), Truncated]),
    case("load_throws_30mib_string", "load_throws_30mib_string.js", Run, LoadFails(RUNTIME), BOUNDED, LOAD_STOPPED).roomy().check(&[Truncated]),
    case("huge_method_name", "huge_method_name.js", HugeMethod(8 * MIB), Fails(NOT_FOUND), SMALL, SLOW).roomy(),
    case("huge_input", "huge_input.js", HugeInput(16 * MIB), Succeeds, SMALL, SLOW).roomy().check(&[ValueIs("16777216")]),
    case("huge_input_over_frame", "huge_input_over_frame.js", HugeInput(70 * MIB), Fails(BAD_REQUEST), SMALL, SLOW).roomy(),
    case("deep_input", "deep_input.js", DeepInput(100_000), SucceedsOr(BAD_REQUEST), SMALL, FAST),
    case("host_call_30mib_args", "host_call_30mib_args.js", Run, SucceedsOr(RUNTIME), BOUNDED, SLOW).roomy().ping(),
    // ---- forging the runtime protocol: the outcome is the truth ----
    case("forge_json_stringify_done", "forge_json_stringify_done.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("forge_json_stringify_value", "forge_json_stringify_value.js", Run, Succeeds, SMALL, FAST).check(&[ValueIs("{\"n\":7}")]),
    case("forge_json_parse_method", "forge_json_parse_method.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("forge_json_parse_max_output", "forge_json_parse_max_output.js", Run, Fails(TOO_LARGE), SMALL, FAST),
    case("forge_encode_into", "forge_encode_into.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("forge_atomics_load", "forge_atomics_load.js", Run, Succeeds, SMALL, FAST).check(REAL),
    case("forge_atomics_store", "forge_atomics_store.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("forge_atomics_compare_exchange", "forge_atomics_compare_exchange.js", Run, Succeeds, SMALL, FAST).check(REAL),
    case("forge_array_iterator", "forge_array_iterator.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("forge_map_methods", "forge_map_methods.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("forge_map_set_returns", "forge_map_set_returns.js", Run, Succeeds, SMALL, FAST).check(REAL),
    case("forge_promise_then", "forge_promise_then.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("forge_promise_then_value", "forge_promise_then_value.js", Run, Succeeds, SMALL, FAST).check(&[ValueIs("7")]),
    case("forge_define_property", "forge_define_property.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("forge_define_property_returns", "forge_define_property_returns.js", Run, Succeeds, SMALL, FAST).check(REAL),
    case("forge_string_prototype", "forge_string_prototype.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("forge_string_prototype_returns", "forge_string_prototype_returns.js", Run, Succeeds, SMALL, FAST).check(REAL),
    case("forge_object_prototype_then", "forge_object_prototype_then.js", Run, Succeeds, SMALL, FAST).check(&[ValueIs("7")]),
    case("forge_object_prototype_tojson", "forge_object_prototype_tojson.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("forge_array_prototype_tojson", "forge_array_prototype_tojson.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("forge_array_push", "forge_array_push.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("forge_function_call_apply", "forge_function_call_apply.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("forge_promise_statics", "forge_promise_statics.js", Run, Succeeds, SMALL, FAST).check(REAL),
    case("error_stack_getter_loops", "error_stack_getter_loops.js", Run, Fails(OWN_CODE_LOOPS), SMALL, FAST),
    case("prepare_stack_trace_loops", "prepare_stack_trace_loops.js", Run, Fails(OWN_CODE_LOOPS), SMALL, FAST),
    case("edge_kind_memory", "edge_kind_memory.js", Run, Fails(RUNTIME), SMALL, FAST),
    case("edge_kind_timeout", "edge_kind_timeout.js", Run, Fails(RUNTIME), SMALL, FAST),
    case("edge_kind_crashed", "edge_kind_crashed.js", Run, Fails(RUNTIME), SMALL, FAST),
    case("edge_kind_not_found", "edge_kind_not_found.js", Run, Fails(RUNTIME), SMALL, FAST),
    case("edge_kind_output_too_large", "edge_kind_output_too_large.js", Run, Fails(RUNTIME), SMALL, FAST),
    case("edge_kind_getter", "edge_kind_getter.js", Run, Fails(RUNTIME), SMALL, FAST),
    case("edge_kind_plain_object", "edge_kind_plain_object.js", Run, Fails(RUNTIME), SMALL, FAST),
    case("edge_kind_prototype", "edge_kind_prototype.js", Run, Fails(RUNTIME), SMALL, FAST),
    case("edge_kind_object_prototype", "edge_kind_object_prototype.js", Run, Fails(RUNTIME), SMALL, FAST),
    case("edge_kind_at_load", "edge_kind_at_load.js", Run, LoadFails(RUNTIME), SMALL, FAST),
    case("edge_internals_typeof", "edge_internals_typeof.js", Run, Succeeds, SMALL, FAST)
        .check(&[ValueIs("{\"edge\":\"undefined\",\"internal\":\"undefined\",\"mailbox\":\"undefined\",\"notify\":\"undefined\"}")]),
    case("edge_internals_own_keys", "edge_internals_own_keys.js", Run, Succeeds, SMALL, FAST).check(&[ValueIs("[]")]),
    case("edge_forged_invoke", "edge_forged_invoke.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("edge_drain_steals", "edge_drain_steals.js", Run, Succeeds, SMALL, FAST).check(REAL),
    case("edge_forged_settle", "edge_forged_settle.js", Run, Succeeds, SMALL, FAST).ping().check(&[ValueIs("1")]),
    case("edge_forged_fire", "edge_forged_fire.js", Run, Succeeds, SMALL, FAST).check(&[ValueIs("false")]),
    case("edge_forged_load", "edge_forged_load.js", Run, Fails(RUNTIME), SMALL, FAST).check(TRUTH),
    case("edge_forged_calls_150k", "edge_forged_calls_150k.js", Run, Succeeds, SMALL, FAST).ping().check(REAL),
    case("edge_forged_timers_150k", "edge_forged_timers_150k.js", Run, Succeeds, SMALL, FAST).check(REAL),
    // ---- randomness: a Worker cannot predict crypto.getRandomValues ----
    case("rng_seed_via_json_parse", "rng_seed_via_json_parse.js", Run, Succeeds, SMALL, FAST).check(PREDICTION_WRONG),
    case("rng_seed_via_uint8array", "rng_seed_via_uint8array.js", Run, Succeeds, SMALL, FAST).check(PREDICTION_WRONG),
    case("rng_seed_via_regexp_and_atob", "rng_seed_via_regexp_and_atob.js", Run, Succeeds, SMALL, FAST).check(PREDICTION_WRONG),
    case("rng_seed_via_char_code_at", "rng_seed_via_char_code_at.js", Run, Succeeds, SMALL, FAST).check(PREDICTION_WRONG),
    case("rng_reseed_with_zeros", "rng_reseed_with_zeros.js", Run, Succeeds, SMALL, FAST).check(PREDICTION_WRONG),
    case("rng_uuid_prediction", "rng_uuid_prediction.js", Run, Succeeds, SMALL, FAST).check(PREDICTION_WRONG),
    // ---- ordinary values that must work ----
    case("lone_surrogate_log", "lone_surrogate_log.js", Run, Succeeds, SMALL, FAST).check(&[ValueIs("\"logged\""), LogHas("surrogate")]),
    case("lone_surrogate_result", "lone_surrogate_result.js", Run, Succeeds, SMALL, FAST).check(&[ValueHas("x")]),
    case("nested_200_arrays", "nested_200_arrays.js", Run, Succeeds, SMALL, FAST).check(&[Depth(200)]),
    case("nested_200_objects", "nested_200_objects.js", Run, Succeeds, SMALL, FAST).check(&[Depth(200)]),
    case("two_set_cookie", "two_set_cookie.js", Fetch, Succeeds, SMALL, FAST).check(&[Header("set-cookie", 2)]),
    case("queue_microtask_undefined", "queue_microtask_undefined.js", Run, Succeeds, SMALL, FAST)
        .check(&[ValueIs("{\"returned\":\"undefined\",\"ran\":true}")]),
    case("recursion_overflow", "recursion_overflow.js", Run, Fails(RUNTIME), SMALL, FAST).check(&[MessageHas("call stack")]),
    // ---- resources: stopped by a limit, the sandbox keeps serving ----
    case("heap_array_bomb", "heap_array_bomb.js", Run, Fails(MEMORY), SMALL, SLOW),
    case("string_bomb", "string_bomb.js", Run, Fails(MEMORY), SMALL, SLOW),
    case("array_buffer_bomb", "array_buffer_bomb.js", Run, Fails(MEMORY), SMALL, SLOW),
    case("wasm_memory_bomb", "wasm_memory_bomb.js", Run, Fails(MEMORY), SMALL, SLOW),
    case("top_level_memory_bomb", "top_level_memory_bomb.js", Run, LoadFails(MEMORY), SMALL, LOAD_STOPPED),
    case("infinite_loop", "infinite_loop.js", Run, Fails(TIMEOUT), SMALL, FAST),
    case("infinite_loop_top_level", "infinite_loop_top_level.js", Run, LoadFails(TIMEOUT), SMALL, LOAD_STOPPED),
    case("promise_job_loop_after_return", "promise_job_loop_after_return.js", Run, Succeeds, SMALL, FAST).check(&[ValueIs("\"returned\"")]),
    case("busy_promise_job_after_return", "busy_promise_job_after_return.js", Run, SucceedsOr(TIMEOUT), SMALL, FAST),
    case("microtask_loop_awaited", "microtask_loop_awaited.js", Run, Fails(TIMEOUT), SMALL, FAST),
    case("atomics_wait", "atomics_wait.js", Run, Fails(TIMEOUT), SMALL, FAST),
    case("atomics_wait_long", "atomics_wait_long.js", Run, Fails(TIMEOUT), SMALL, FAST),
    case("catastrophic_regex", "catastrophic_regex.js", Run, Fails(TIMEOUT), SMALL, FAST),
    case("interval_flood", "interval_flood.js", Run, SucceedsOr(STOPPED), SMALL, FAST),
    case("interval_flood_awaited", "interval_flood_awaited.js", Run, Fails(STOPPED), SMALL, FAST),
    case("timer_fan_out", "timer_fan_out.js", Run, Fails(STOPPED), SMALL, FAST),
    case("set_timeout_forever", "set_timeout_forever.js", Run, Fails(TIMEOUT), SMALL, FAST),
    case("wait_until_forever", "wait_until_forever.js", Run, SucceedsOr(TIMEOUT), SMALL, FAST),
    case("host_call_flood", "host_call_flood.js", Run, SucceedsOr(STOPPED), SMALL, FAST).ping(),
    case("host_call_flood_sequential", "host_call_flood_sequential.js", Run, Fails(STOPPED), SMALL, FAST).ping(),
    case("result_tojson_loops", "result_tojson_loops.js", Run, Fails(TIMEOUT), SMALL, FAST),
    case("result_tojson_throws", "result_tojson_throws.js", Run, Fails(RUNTIME), SMALL, FAST),
    case("result_proxy_trap", "result_proxy_trap.js", Run, Fails(RUNTIME), SMALL, FAST),
    case("result_bigint", "result_bigint.js", Run, Fails(RUNTIME), SMALL, FAST),
    case("result_cyclic", "result_cyclic.js", Run, Fails(RUNTIME), SMALL, FAST),
];

/// A host whose one binding, `ping`, answers `1` and counts its calls.
#[derive(Default)]
struct PingHost {
    calls: AtomicU64,
}

impl HostFunctions for PingHost {
    fn bindings(&self) -> Vec<String> {
        vec!["ping".into()]
    }

    fn call(&self, _name: &str, _args_json: &str) -> Result<String, String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok("1".into())
    }
}

/// Expands `@@REPEAT n text@@` (text repeated n times).
fn expand(source: &str) -> String {
    const OPEN: &str = "@@REPEAT ";
    const CLOSE: &str = "@@";
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let directive = &rest[at + OPEN.len()..];
        let (count, after) = directive.split_once(' ').expect("@@REPEAT n text@@");
        let end = after.find(CLOSE).expect("@@REPEAT ends with @@");
        let count: usize = count.parse().expect("@@REPEAT count");
        out.push_str(&after[..end].repeat(count));
        rest = &after[end + CLOSE.len()..];
    }
    out.push_str(rest);
    out
}

fn corpus_source(file: &str) -> String {
    let read = |file: &str| {
        let path = format!("{CORPUS_DIR}/{file}");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let lines: Vec<String> = read(file)
        .lines()
        .map(|line| {
            match line
                .strip_prefix("@@INCLUDE ")
                .and_then(|l| l.strip_suffix("@@"))
            {
                Some(included) => read(included),
                None => line.to_owned(),
            }
        })
        .collect();
    expand(&lines.join("\n"))
}

fn case_limits(case: &Case) -> Limits {
    let (memory, time) = match case.roomy {
        true => (160 << 20, Duration::from_secs(2)),
        false => (64 << 20, Duration::from_secs(1)),
    };
    Limits {
        memory_bytes: memory,
        wall_time: time,
        cpu_time: time,
        max_output_bytes: OUTPUT_LIMIT,
        ..Limits::default()
    }
}

fn invocation(inv: Inv) -> Invocation {
    match inv {
        Run => call("run", "null"),
        Fetch => Invocation::Fetch(HttpRequest {
            method: "GET".into(),
            url: "http://localhost/".into(),
            headers: Vec::new(),
            body: Vec::new(),
        }),
        HugeMethod(bytes) => call(&"m".repeat(bytes), "null"),
        HugeInput(bytes) => call("run", &format!("\"{}\"", "x".repeat(bytes))),
        DeepInput(depth) => call(
            "run",
            &format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        ),
    }
}

/// What the hostile part of a case produced.
struct Observed {
    /// The load's error, or the invocation's outcome.
    result: Result<Outcome, WorkerError>,
    /// What the top-level code logged (successful loads).
    load_logs: Vec<LogLine>,
    wall: Duration,
    host_calls: u64,
}

impl Observed {
    fn error(&self) -> Option<&WorkerError> {
        match &self.result {
            Err(error) => Some(error),
            Ok(outcome) => outcome.result.as_ref().err(),
        }
    }

    fn value(&self) -> Option<&InvocationValue> {
        self.result.as_ref().ok()?.result.as_ref().ok()
    }

    fn value_json(&self) -> &str {
        match self.value() {
            Some(InvocationValue::Json(json)) => json,
            _ => "",
        }
    }

    fn logs(&self) -> impl Iterator<Item = &LogLine> {
        let invoked = self.result.as_ref().map(|o| &o.logs[..]).unwrap_or(&[]);
        self.load_logs.iter().chain(invoked)
    }

    /// Bytes of the whole outcome: value, error message and logs.
    fn bytes(&self) -> usize {
        let logs: usize = self.logs().map(|l| l.level.len() + l.message.len()).sum();
        let value = match self.value() {
            Some(InvocationValue::Json(json)) => json.len(),
            Some(InvocationValue::Http(response)) => {
                let headers: usize = response
                    .headers
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum();
                response.body.len() + headers
            }
            None => 0,
        };
        logs + value + self.error().map_or(0, |e| e.message.len())
    }

    /// One line: what happened, how big, how long.
    fn describe(&self) -> String {
        let what = match (&self.result, self.error()) {
            (Err(error), _) => format!("load failed {}: {}", error.kind, snippet(&error.message)),
            (Ok(_), Some(error)) => format!("{}: {}", error.kind, snippet(&error.message)),
            (Ok(_), None) => match self.value() {
                Some(InvocationValue::Http(r)) => {
                    format!("ok http {} ({} headers)", r.status, r.headers.len())
                }
                _ => format!("ok {}", snippet(self.value_json())),
            },
        };
        let calls = match self.host_calls {
            0 => String::new(),
            n => format!(", {n} host calls"),
        };
        format!(
            "{what} [{} B, {} log lines, {} ms{calls}]",
            self.bytes(),
            self.logs().count(),
            self.wall.as_millis()
        )
    }
}

/// The first 160 characters of `text` on one line.
fn snippet(text: &str) -> String {
    const SNIPPET: usize = 160;
    let line: String = text
        .chars()
        .take(SNIPPET)
        .collect::<String>()
        .replace('\n', " | ");
    match text.chars().nth(SNIPPET) {
        Some(_) => format!("{line}…"),
        None => line,
    }
}

/// Loads the case's Worker for its own tenant and invokes it.
async fn run_hostile(
    supervisor: &Supervisor,
    case: &Case,
    tenant: &str,
) -> (Observed, Option<IsolateHandle>) {
    let bundle = Bundle::single("./main.js", corpus_source(case.file));
    let ping = Arc::new(PingHost::default());
    let host: Arc<dyn HostFunctions> = match case.host {
        Host::None => Arc::new(NoHostFunctions),
        Host::Ping => ping.clone(),
    };
    let started = Instant::now();
    let loaded = supervisor.load(tenant, &bundle, case_limits(case)).await;
    let (result, load_logs, handle) = match loaded {
        Err(error) => (Err(error.into_worker_error()), Vec::new(), None),
        Ok(loaded) => {
            let outcome = supervisor
                .invoke(&loaded.handle, &invocation(case.invocation), host)
                .await;
            (Ok(outcome), loaded.logs, Some(loaded.handle))
        }
    };
    let observed = Observed {
        result,
        load_logs,
        wall: started.elapsed(),
        host_calls: ping.calls.load(Ordering::Relaxed),
    };
    (observed, handle)
}

/// What is wrong with an outcome, given the case.
fn problems(case: &Case, observed: &Observed) -> Vec<String> {
    let mut problems = Vec::new();
    let kind_in = |kinds: &[ErrorKind], error: &WorkerError| kinds.contains(&error.kind);
    let expected = match (case.expect, &observed.result, observed.error()) {
        (LoadFails(kinds), Err(error), _) => kind_in(kinds, error),
        (LoadFails(_), Ok(_), _) | (_, Err(_), _) => false,
        (Succeeds, Ok(_), error) => error.is_none(),
        (SucceedsOr(kinds), Ok(_), error) => error.is_none_or(|e| kind_in(kinds, e)),
        (Fails(kinds), Ok(_), error) => error.is_some_and(|e| kind_in(kinds, e)),
    };
    if !expected {
        problems.push(format!("expected {:?}", case.expect));
    }
    if observed.bytes() > case.max_bytes {
        problems.push(format!(
            "outcome of {} B exceeds {} B",
            observed.bytes(),
            case.max_bytes
        ));
    }
    if observed.wall > Duration::from_millis(case.max_wall_ms) {
        problems.push(format!(
            "took {} ms, bound {} ms",
            observed.wall.as_millis(),
            case.max_wall_ms
        ));
    }
    problems.extend(
        case.checks
            .iter()
            .filter_map(|check| failed_check(check, observed)),
    );
    problems
}

/// Why `check` does not hold, if it does not.
fn failed_check(check: &Check, observed: &Observed) -> Option<String> {
    let message = observed.error().map_or("", |e| e.message.as_str());
    let holds = match check {
        ValueIs(json) => observed.value_json() == *json,
        ValueHas(part) => observed.value_json().contains(part),
        MessageHas(part) => message.contains(part),
        LogHas(part) => observed.logs().any(|l| l.message.contains(part)),
        Truncated => std::iter::once(message)
            .chain(observed.logs().map(|l| l.message.as_str()))
            .any(marks_a_cut),
        Depth(depth) => nesting(observed.value_json()) == *depth,
        Header(name, count) => match observed.value() {
            Some(InvocationValue::Http(r)) => {
                r.headers
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .count()
                    == *count
            }
            _ => false,
        },
    };
    (!holds).then(|| format!("check {check:?} fails"))
}

fn marks_a_cut(text: &str) -> bool {
    let lower = text.to_lowercase();
    text.contains('…') || lower.contains("truncated") || lower.contains("dropped")
}

/// Deepest bracket nesting of a JSON text (values here hold no brackets in strings).
fn nesting(json: &str) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0;
    for byte in json.bytes() {
        match byte {
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// An ordinary request on a fresh load for the same tenant.
async fn follow_up(supervisor: &Supervisor, tenant: &str) -> Result<IsolateHandle, String> {
    let limits = Limits {
        wall_time: Duration::from_secs(5),
        cpu_time: Duration::from_secs(5),
        ..limits(64)
    };
    let loaded = supervisor
        .load(tenant, &worker(ADDER), limits)
        .await
        .map_err(|e| format!("follow-up load failed: {e}"))?;
    let outcome = supervisor
        .invoke(
            &loaded.handle,
            &call("run", "41"),
            Arc::new(NoHostFunctions),
        )
        .await;
    match outcome.result {
        Ok(InvocationValue::Json(json)) if json == "42" => Ok(loaded.handle),
        other => Err(format!("follow-up request gave {other:?}")),
    }
}

/// One case's verdict: what happened and what is wrong with it.
struct Verdict {
    name: &'static str,
    observed: String,
    problems: Vec<String>,
}

async fn run_case(supervisor: Arc<Supervisor>, case: Case) -> Verdict {
    let tenant = format!("hostile-{}", case.name);
    let work = async {
        let (observed, hostile) = run_hostile(&supervisor, &case, &tenant).await;
        let mut problems = problems(&case, &observed);
        match follow_up(&supervisor, &tenant).await {
            Ok(handle) => supervisor.unload(&handle).await,
            Err(problem) => problems.push(problem),
        }
        if let Some(handle) = hostile {
            supervisor.unload(&handle).await;
        }
        (observed.describe(), problems)
    };
    let (observed, problems) = match tokio::time::timeout(CASE_GUARD, work).await {
        Ok(done) => done,
        Err(_) => (
            "hung".into(),
            vec![format!("no answer within {CASE_GUARD:?}")],
        ),
    };
    Verdict {
        name: case.name,
        observed,
        problems,
    }
}

/// Resident memory of this process (the supervisor).
fn resident_bytes() -> u64 {
    edge_sandbox::resident_memory(std::process::id()).unwrap_or(0)
}

fn corpus_config() -> SandboxConfig {
    SandboxConfig {
        warm_sandboxes: CONCURRENCY,
        idle_timeout: IDLE_TIMEOUT,
        ..config()
    }
}

fn selected_cases() -> Vec<Case> {
    let filter = std::env::var("HOSTILE_FILTER").unwrap_or_default();
    CASES
        .iter()
        .filter(|c| c.name.contains(&filter))
        .copied()
        .collect()
}

/// Runs the cases `CONCURRENCY` at a time; returns the verdicts in table order.
async fn run_corpus(supervisor: &Arc<Supervisor>, cases: &[Case]) -> Vec<Verdict> {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (index, case) in cases.iter().copied().enumerate() {
        let supervisor = supervisor.clone();
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore open");
            let verdict = run_case(supervisor, case).await;
            let mark = if verdict.problems.is_empty() {
                "pass"
            } else {
                "FAIL"
            };
            println!("{mark} {}: {}", verdict.name, verdict.observed);
            (index, verdict)
        });
    }
    let mut verdicts: Vec<(usize, Verdict)> = tasks.join_all().await;
    verdicts.sort_by_key(|(index, _)| *index);
    verdicts.into_iter().map(|(_, verdict)| verdict).collect()
}

/// Samples the supervisor's resident memory until `stop`; returns the peak.
async fn sample_rss(stop: Arc<tokio::sync::Notify>) -> u64 {
    let mut peak = resident_bytes();
    loop {
        tokio::select! {
            _ = stop.notified() => return peak.max(resident_bytes()),
            _ = tokio::time::sleep(RSS_SAMPLE) => peak = peak.max(resident_bytes()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_worker_gets_its_expected_bounded_outcome_and_the_tenant_keeps_serving() {
    let supervisor = Arc::new(supervisor_with(corpus_config()).await);
    let cases = selected_cases();
    let stop = Arc::new(tokio::sync::Notify::new());
    let sampler = tokio::spawn(sample_rss(stop.clone()));
    let started = Instant::now();
    let verdicts = run_corpus(&supervisor, &cases).await;
    stop.notify_one();
    let peak = sampler.await.expect("sampler");
    let after = resident_bytes();
    println!(
        "{} cases in {:.1} s; supervisor resident memory: peak {} MiB, after {} MiB",
        verdicts.len(),
        started.elapsed().as_secs_f64(),
        peak >> 20,
        after >> 20
    );
    let mut failures: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.problems.is_empty())
        .map(|v| {
            format!(
                "{}: {} — observed {}",
                v.name,
                v.problems.join("; "),
                v.observed
            )
        })
        .collect();
    if after > SUPERVISOR_RSS_AFTER {
        failures.push(format!(
            "supervisor resident memory after the corpus: {} MiB",
            after >> 20
        ));
    }
    if peak > SUPERVISOR_RSS_PEAK {
        failures.push(format!(
            "supervisor resident memory peaked at {} MiB",
            peak >> 20
        ));
    }
    Arc::try_unwrap(supervisor)
        .ok()
        .expect("sole owner")
        .shutdown()
        .await;
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed:\n{}",
        failures.len(),
        verdicts.len(),
        failures.join("\n")
    );
}

#[test]
fn the_corpus_has_sixty_attacks_each_with_its_own_worker_file() {
    assert!(CASES.len() >= MIN_CASES, "{} cases", CASES.len());
    let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CASES.len(), "case names are unique");
    // Worker files only: `lib/` holds code the Workers include.
    let mut files: Vec<String> = std::fs::read_dir(CORPUS_DIR)
        .expect("corpus directory")
        .map(|entry| entry.expect("entry"))
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort_unstable();
    let mut used: Vec<String> = CASES.iter().map(|c| c.file.to_owned()).collect();
    used.sort_unstable();
    assert_eq!(files, used, "each Worker file serves exactly one case");
}

#[test]
fn repeat_directives_expand_in_place() {
    assert_eq!(expand("a@@REPEAT 3 (@@1@@REPEAT 3 )@@b"), "a(((1)))b");
    assert_eq!(expand("@@REPEAT 2  : 0@@"), " : 0 : 0");
    assert_eq!(expand("plain"), "plain");
}
