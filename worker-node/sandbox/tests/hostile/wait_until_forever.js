// Hands ctx.waitUntil a promise that never settles and returns.
// Expected: success or `timeout`, bounded.
export default {
  async run(input, env, ctx) {
    ctx.waitUntil(new Promise(() => {}));
    return "responded";
  },
};
