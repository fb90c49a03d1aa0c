// Source nesting: a 100,000-term `"a" + "a" + ...` chain. The repeat directives are expanded by
// hostile_workers.rs before loading. Expected: a `compile` error, and the
// sandbox keeps serving.
export default { async run() { return @@REPEAT 99999 "a" + @@"a"; } };
