// Source nesting: a chain of 100,000 unary `!`. The repeat directives are expanded by
// hostile_workers.rs before loading. Expected: a `compile` error, and the
// sandbox keeps serving.
export default { async run() { return @@REPEAT 100000 !@@0; } };
