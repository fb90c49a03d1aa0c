// Source nesting: 20,000 nested arrow functions. The repeat directives are expanded by
// hostile_workers.rs before loading. Expected: a `compile` error, and the
// sandbox keeps serving.
export default { async run() { return @@REPEAT 20000 (() => @@0@@REPEAT 20000 )@@; } };
