// Source nesting: 50,000 nested statement blocks. The repeat directives are expanded by
// hostile_workers.rs before loading. Expected: a `compile` error, and the
// sandbox keeps serving.
export default { async run() { @@REPEAT 50000 {@@ return 1; @@REPEAT 50000 }@@ } };
