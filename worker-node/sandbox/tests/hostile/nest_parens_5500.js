// Source nesting: 5,500 nested parentheses. The repeat directives are expanded by
// hostile_workers.rs before loading. Expected: a `compile` error, and the
// sandbox keeps serving.
export default { async run() { return @@REPEAT 5500 (@@1@@REPEAT 5500 )@@; } };
