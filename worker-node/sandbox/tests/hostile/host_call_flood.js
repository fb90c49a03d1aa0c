// 100,000 concurrent binding calls. Expected: success, `timeout`
// or `runtime` (a call cap), bounded.
export default {
  async run(input, env) {
    const answers = await Promise.all(Array.from({ length: 100000 }, () => env.ping()));
    return answers.length;
  },
};
