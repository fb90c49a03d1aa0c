// Binding calls one after another, forever. Expected: `timeout`
// (or `runtime` from a call cap).
export default {
  async run(input, env) {
    for (;;) await env.ping();
  },
};
