// Source nesting: a chain of 50,000 `typeof`. The repeat directives are expanded by
// hostile_workers.rs before loading. Expected: a `compile` error, and the
// sandbox keeps serving.
export default { async run() { return @@REPEAT 50000 typeof @@0; } };
