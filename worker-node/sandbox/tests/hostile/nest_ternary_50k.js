// Source nesting: 50,000 nested conditional expressions. The repeat directives are expanded by
// hostile_workers.rs before loading. Expected: a `compile` error, and the
// sandbox keeps serving.
export default { async run() { return @@REPEAT 50000 1 ? @@0@@REPEAT 50000  : 0@@; } };
