// Calls a binding with a 30 MiB argument. Expected: the binding's answer
// (1) or a `runtime` error; bounded either way.
export default {
  async run(input, env) {
    return await env.ping("a".repeat(30 << 20));
  },
};
