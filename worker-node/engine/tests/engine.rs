//! The engine against real V8: handlers, modules, TypeScript, web APIs,
//! bindings, and every error kind — each followed by a normal request on the
//! same isolate, which must still be served.

#![cfg(feature = "v8")]

use std::time::Duration;

use edge_engine::Bundle;
use edge_engine::ErrorKind;
use edge_engine::HostFunctions;
use edge_engine::HttpRequest;
use edge_engine::Invocation;
use edge_engine::InvocationValue;
use edge_engine::Isolate;
use edge_engine::Limits;
use edge_engine::Module;
use edge_engine::NoHostFunctions;
use edge_engine::Outcome;
use edge_engine::WorkerError;

/// A Worker with a `run` method that misbehaves on demand, plus a healthy `ok`.
const TORTURE: &str = r#"
let calls = 0;
export default {
  ok(input) { calls++; return { echo: input, calls }; },
  loop() { while (true) {} },
  async asyncLoop() { await null; while (true) {} },
  regex() { return /^(a+)+$/.test("a".repeat(40) + "b"); },
  allocate() { const keep = []; while (true) keep.push(new Array(10000).fill(keep.length)); },
  hugeString() { return "x".repeat(100 * 1024 * 1024); },
  recurse() { const f = (n) => f(n + 1) + 1; return f(0); },
  throwNumber() { throw 42; },
  throwObject() { throw { code: "E_CUSTOM", detail: [1, 2] }; },
  async reject() { await null; return Promise.reject(new TypeError("rejected on purpose")); },
  throwError() { throw new RangeError("bad range"); },
  bigint() { return 1n; },
};
"#;

fn limits() -> Limits {
    Limits {
        memory_bytes: 64 * 1024 * 1024,
        wall_time: Duration::from_secs(2),
        cpu_time: Duration::from_secs(2),
        ..Limits::default()
    }
}

fn load(bundle: &Bundle) -> Isolate {
    let mut isolate = Isolate::new(limits()).expect("V8 starts");
    isolate.load(bundle).expect("bundle loads");
    isolate
}

fn single(source: &str) -> Bundle {
    Bundle::single("./main.js", source)
}

fn call(isolate: &mut Isolate, method: &str, input: &str) -> Outcome {
    isolate.invoke(
        &Invocation::Call {
            method: method.into(),
            input_json: input.into(),
        },
        &NoHostFunctions,
    )
}

fn json(outcome: &Outcome) -> serde_json::Value {
    match &outcome.result {
        Ok(InvocationValue::Json(text)) => serde_json::from_str(text).expect("valid JSON result"),
        other => panic!("expected a JSON result, got {other:?}"),
    }
}

fn expect_error(outcome: Outcome) -> WorkerError {
    match outcome.result {
        Err(error) => error,
        Ok(value) => panic!("expected an error, got {value:?}"),
    }
}

fn fetch(isolate: &mut Isolate, request: HttpRequest) -> Outcome {
    isolate.invoke(&Invocation::Fetch(request), &NoHostFunctions)
}

fn get(url: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url: url.into(),
        headers: vec![],
        body: vec![],
    }
}

#[test]
fn call_handler_receives_json_input_and_returns_json() {
    let mut isolate = load(&single(
        "export default { async add({ a, b }) { return { sum: a + b, at: typeof Date.now() }; } };",
    ));
    let outcome = call(&mut isolate, "add", r#"{"a": 2, "b": 40}"#);
    assert_eq!(
        json(&outcome),
        serde_json::json!({"sum": 42, "at": "number"})
    );
    assert!(outcome.stats.run_ms > 0.0);
    assert!(outcome.stats.cpu_ms > 0.0);
    let heap = isolate.heap_stats().expect("an idle isolate answers");
    assert!(heap.used_heap_size > 0 && heap.used_heap_size < heap.heap_size_limit);
}

#[test]
fn fetch_handler_gets_a_request_and_returns_a_response() {
    let mut isolate = load(&single(
        r#"
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const body = await request.text();
    return new Response(JSON.stringify({
      method: request.method,
      path: url.pathname,
      q: url.searchParams.get("q"),
      agent: request.headers.get("User-Agent"),
      body,
      env: Object.keys(env),
    }), { status: 201, headers: { "content-type": "application/json", "x-worker": "yes" } });
  },
};
"#,
    ));
    let outcome = fetch(
        &mut isolate,
        HttpRequest {
            method: "POST".into(),
            url: "https://example.test/items?q=v8".into(),
            headers: vec![("user-agent".into(), "tests/1".into())],
            body: b"hello body".to_vec(),
        },
    );
    let Ok(InvocationValue::Http(response)) = outcome.result else {
        panic!("expected an HTTP response, got {:?}", outcome.result);
    };
    assert_eq!(response.status, 201);
    assert!(
        response
            .headers
            .contains(&("x-worker".into(), "yes".into()))
    );
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"method": "POST", "path": "/items", "q": "v8", "agent": "tests/1", "body": "hello body", "env": []})
    );
}

#[test]
fn typescript_modules_import_each_other() {
    let bundle = Bundle {
        modules: vec![
            Module {
                name: "./main.ts".into(),
                source: r#"
import { greet, type Greeting } from "./lib/greet.ts";
import * as math from "./lib/math";
import Counter from "./lib/counter.ts";

interface Env { readonly region?: string }
enum Mode { Loud = "LOUD", Quiet = "quiet" }

export default {
  async run(input: { name: string; n: number }, env: Env): Promise<object> {
    const g: Greeting = greet(input.name);
    const c = new Counter<number>(input.n);
    return { greeting: g.text, square: math.square(input.n), counted: c.next(), mode: Mode.Loud };
  },
};
"#
                .into(),
            },
            Module {
                name: "./lib/greet.ts".into(),
                source: "export interface Greeting { text: string }\nexport function greet(name: string): Greeting { return { text: `hello, ${name}` }; }\n".into(),
            },
            Module {
                name: "./lib/math.ts".into(),
                source: "export const square = (x: number): number => x * x;\n".into(),
            },
            Module {
                name: "./lib/counter.ts".into(),
                source: "export default class Counter<T extends number> { constructor(private value: T) {} next(): number { return this.value + 1; } }\n".into(),
            },
        ],
        main_module: "./main.ts".into(),
    };
    let mut isolate = load(&bundle);
    let outcome = call(&mut isolate, "run", r#"{"name": "edge", "n": 7}"#);
    assert_eq!(
        json(&outcome),
        serde_json::json!({"greeting": "hello, edge", "square": 49, "counted": 8, "mode": "LOUD"})
    );
}

#[test]
fn syntax_errors_name_module_line_and_column() {
    let bundle = Bundle {
        modules: vec![
            Module {
                name: "./main.js".into(),
                source:
                    "import { f } from './broken.ts';\nexport default { run() { return f(); } };\n"
                        .into(),
            },
            Module {
                name: "./broken.ts".into(),
                source: "export function f(): number {\n  return 1 +;\n}\n".into(),
            },
        ],
        main_module: "./main.js".into(),
    };
    let mut isolate = Isolate::new(limits()).unwrap();
    let error = isolate.load(&bundle).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Compile);
    assert!(
        error.message.contains("broken.ts:2:"),
        "message: {}",
        error.message
    );
    // The isolate still takes a good Worker afterwards.
    isolate.load(&single(TORTURE)).unwrap();
    assert_eq!(json(&call(&mut isolate, "ok", "1"))["echo"], 1);
}

#[test]
fn imports_from_outside_the_bundle_are_compile_errors() {
    let mut isolate = Isolate::new(limits()).unwrap();
    let error = isolate
        .load(&single("import _ from 'lodash';\nexport default {};"))
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Compile);
    assert!(
        error.message.contains("lodash"),
        "message: {}",
        error.message
    );
}

#[test]
fn top_level_throw_is_a_runtime_error_at_load() {
    let mut isolate = Isolate::new(limits()).unwrap();
    let error = isolate
        .load(&single(
            "console.log('starting up');\nthrow new Error('boom at load');\nexport default {};",
        ))
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Runtime);
    assert!(error.message.contains("boom at load"));
    assert!(
        error.message.contains("[log] starting up"),
        "what the Worker logged before failing: {}",
        error.message
    );
    // The isolate takes the next Worker after a failed load.
    isolate.load(&single(TORTURE)).unwrap();
    assert_eq!(json(&call(&mut isolate, "ok", "6"))["echo"], 6);
}

#[test]
fn missing_default_export_or_method_is_not_found() {
    let mut isolate = Isolate::new(limits()).unwrap();
    let error = isolate.load(&single("export const x = 1;")).unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound);

    let mut isolate = load(&single(TORTURE));
    let error = expect_error(call(&mut isolate, "nope", "null"));
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(error.message.contains("nope"));
    let error = expect_error(fetch(&mut isolate, get("http://localhost/")));
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert_eq!(json(&call(&mut isolate, "ok", "2"))["echo"], 2);
}

#[test]
fn bad_requests_are_rejected_before_running() {
    let mut isolate = load(&single(TORTURE));
    assert_eq!(
        expect_error(call(&mut isolate, "ok", "{not json")).kind,
        ErrorKind::BadRequest
    );
    assert_eq!(
        expect_error(call(&mut isolate, "", "1")).kind,
        ErrorKind::BadRequest
    );
    assert_eq!(
        expect_error(fetch(&mut isolate, get("no-scheme"))).kind,
        ErrorKind::BadRequest
    );
    assert_eq!(json(&call(&mut isolate, "ok", "3"))["echo"], 3);
}

#[test]
fn oversized_bundles_are_refused() {
    let mut isolate = Isolate::new(Limits {
        max_bundle_bytes: 1024,
        ..limits()
    })
    .unwrap();
    let big = format!("export default {{}};\n// {}", "x".repeat(2000));
    let error = isolate.load(&single(&big)).unwrap_err();
    assert_eq!(error.kind, ErrorKind::BundleTooLarge);
}

/// Each failure mode, then a healthy call on the same isolate.
fn assert_fails_then_recovers(method: &str, kind: ErrorKind, message_part: &str) {
    let mut isolate = load(&single(TORTURE));
    let outcome = call(&mut isolate, method, "null");
    let error = expect_error(outcome);
    assert_eq!(error.kind, kind, "{method}: {}", error.message);
    assert!(
        error.message.contains(message_part),
        "{method}: message {:?} lacks {message_part:?}",
        error.message
    );
    let healthy = call(&mut isolate, "ok", r#""after""#);
    assert_eq!(json(&healthy)["echo"], "after", "{method}: next request");
}

#[test]
fn infinite_loop_times_out_and_isolate_recovers() {
    assert_fails_then_recovers("loop", ErrorKind::Timeout, "limit");
}

#[test]
fn promise_job_loop_times_out_and_isolate_recovers() {
    assert_fails_then_recovers("asyncLoop", ErrorKind::Timeout, "limit");
}

#[test]
fn catastrophic_regex_times_out_and_isolate_recovers() {
    assert_fails_then_recovers("regex", ErrorKind::Timeout, "limit");
}

#[test]
fn heap_allocation_loop_hits_memory_limit_and_isolate_recovers() {
    assert_fails_then_recovers("allocate", ErrorKind::Memory, "memory limit");
}

#[test]
fn hundred_megabyte_result_is_output_too_large() {
    assert_fails_then_recovers("hugeString", ErrorKind::OutputTooLarge, "output limit");
}

#[test]
fn deep_recursion_is_a_runtime_error() {
    assert_fails_then_recovers(
        "recurse",
        ErrorKind::Runtime,
        "Maximum call stack size exceeded",
    );
}

#[test]
fn thrown_non_errors_are_runtime_errors() {
    assert_fails_then_recovers("throwNumber", ErrorKind::Runtime, "Uncaught 42");
    assert_fails_then_recovers("throwObject", ErrorKind::Runtime, "E_CUSTOM");
    assert_fails_then_recovers("throwError", ErrorKind::Runtime, "RangeError: bad range");
}

#[test]
fn rejected_promise_is_a_runtime_error() {
    assert_fails_then_recovers(
        "reject",
        ErrorKind::Runtime,
        "TypeError: rejected on purpose",
    );
}

#[test]
fn unserialisable_result_is_a_runtime_error() {
    assert_fails_then_recovers("bigint", ErrorKind::Runtime, "BigInt");
}

#[test]
fn cpu_limit_is_enforced_separately_from_wall_time() {
    let mut isolate = Isolate::new(Limits {
        cpu_time: Duration::from_millis(100),
        wall_time: Duration::from_secs(10),
        ..limits()
    })
    .unwrap();
    isolate.load(&single(TORTURE)).unwrap();
    let outcome = call(&mut isolate, "loop", "null");
    assert!(
        outcome.stats.cpu_ms >= 100.0,
        "cpu_ms {}",
        outcome.stats.cpu_ms
    );
    let error = expect_error(outcome);
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(
        error.message.contains("CPU-time limit of 100 ms"),
        "{}",
        error.message
    );
    assert_eq!(json(&call(&mut isolate, "ok", "4"))["echo"], 4);
}

#[test]
fn wall_time_limit_can_be_milliseconds() {
    let mut isolate = Isolate::new(Limits {
        wall_time: Duration::from_millis(20),
        ..limits()
    })
    .unwrap();
    isolate
        .load(&single("export default { async wait() { await new Promise(r => setTimeout(r, 5000)); return 1; } };"))
        .unwrap();
    let error = expect_error(call(&mut isolate, "wait", "null"));
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(
        error.message.contains("wall-time limit of 20 ms"),
        "{}",
        error.message
    );
}

#[test]
fn timers_and_console_work_within_an_invocation() {
    let mut isolate = load(&single(
        r#"
export default {
  async run() {
    const order = [];
    const cleared = setTimeout(() => order.push("cleared"), 1);
    clearTimeout(cleared);
    await new Promise((resolve) => setTimeout(() => { order.push("timer"); resolve(); }, 10));
    queueMicrotask(() => order.push("microtask"));
    await null;
    console.log("order", order);
    console.error(new Error("logged error"));
    return order;
  },
};
"#,
    ));
    let outcome = call(&mut isolate, "run", "null");
    assert_eq!(json(&outcome), serde_json::json!(["timer", "microtask"]));
    assert_eq!(outcome.logs.len(), 2);
    assert_eq!(outcome.logs[0].level, "log");
    assert_eq!(outcome.logs[0].message, r#"order ["timer","microtask"]"#);
    assert!(outcome.logs[1].message.contains("logged error"));
}

struct Echo;

impl HostFunctions for Echo {
    fn bindings(&self) -> Vec<String> {
        vec!["ECHO".into(), "FAIL".into()]
    }
    fn call(&self, name: &str, args_json: &str) -> Result<String, String> {
        match name {
            "ECHO" => Ok(format!(r#"{{"host_saw":{args_json}}}"#)),
            _ => Err("the host refused".into()),
        }
    }
}

#[test]
fn host_callbacks_reach_rust_and_answer_asynchronously() {
    let mut isolate = load(&single(
        r#"
export default {
  async run(input, env) {
    const answer = await env.ECHO(input, "second");
    let refused = null;
    try { await env.FAIL(); } catch (e) { refused = e.message; }
    return { answer, refused, names: Object.keys(env) };
  },
};
"#,
    ));
    let outcome = isolate.invoke(
        &Invocation::Call {
            method: "run".into(),
            input_json: r#"{"x":1}"#.into(),
        },
        &Echo,
    );
    assert_eq!(
        json(&outcome),
        serde_json::json!({
            "answer": {"host_saw": [{"x": 1}, "second"]},
            "refused": "the host refused",
            "names": ["ECHO", "FAIL"],
        })
    );
}

#[test]
fn module_state_persists_between_invocations_of_a_loaded_worker() {
    let mut isolate = load(&single(TORTURE));
    for expected in 1..=3 {
        assert_eq!(json(&call(&mut isolate, "ok", "null"))["calls"], expected);
    }
}

#[test]
fn web_api_conformance_suite_passes_in_real_v8() {
    let source = include_str!("js/webapi_conformance.js");
    let mut isolate = Isolate::new(Limits::default()).unwrap();
    isolate
        .load(&Bundle::single("./webapi_conformance.js", source))
        .unwrap();
    let outcome = call(&mut isolate, "run", "null");
    let report = json(&outcome);
    assert_eq!(report["failed"], 0, "failures: {:#}", report["failures"]);
    assert!(
        report["passed"].as_u64().unwrap() >= 100,
        "report: {report}"
    );
}

#[test]
fn result_gets_out_while_promise_jobs_spin_and_the_next_call_recovers() {
    let mut isolate = load(&single(
        r#"
export default {
  wedge(n) { (async () => { while (true) await null; })(); return n + 1; },
  ok(n) { return n; },
};
"#,
    ));
    // The value travels through the shared mailbox although the isolate's
    // thread is left spinning in promise jobs.
    let outcome = call(&mut isolate, "wedge", "41");
    assert_eq!(json(&outcome), 42);
    // The spinning isolate cannot take the next request: it times out, the
    // context is replaced, and the call after that is served.
    assert_eq!(
        expect_error(call(&mut isolate, "ok", "1")).kind,
        ErrorKind::Timeout
    );
    assert_eq!(json(&call(&mut isolate, "ok", "2")), 2);
}

#[test]
fn large_results_fall_back_to_a_drain_evaluation() {
    let mut isolate = load(&single(
        "export default { async big(n) { await null; return 'y'.repeat(n); } };",
    ));
    for n in [10, 8 * 1024, 64 * 1024, 1024 * 1024] {
        let value = json(&call(&mut isolate, "big", &n.to_string()));
        assert_eq!(value.as_str().map(str::len), Some(n));
    }
}

#[test]
fn top_level_infinite_loop_times_out_at_load() {
    let mut isolate = Isolate::new(Limits {
        wall_time: Duration::from_millis(50),
        ..limits()
    })
    .unwrap();
    let error = isolate
        .load(&single("while (true) {}\nexport default {};"))
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout);
    // The load had the 5 s floor, not the 50 ms invocation limit.
    assert!(
        error.message.contains("limit of 5000 ms"),
        "{}",
        error.message
    );
    isolate.load(&single(TORTURE)).unwrap();
    assert_eq!(json(&call(&mut isolate, "ok", "5"))["echo"], 5);
}
