// Answers its own binding call with a forged value through the runtime's
// settle() entry point. Expected: success with the host's real answer (1).
const realParse = JSON.parse;
let inv = 1;
JSON.parse = function (text, reviver) {
  const value = realParse.call(JSON, text, reviver);
  if (value && typeof value === "object" && typeof value.inv === "number") inv = value.inv;
  return value;
};
export default {
  async run(input, env) {
    const answer = env.ping();
    try {
      for (let id = 1; id < 10; id++) {
        globalThis.__edge.settle({ inv, id, ok: true, value: '"forged"' });
      }
    } catch (_) {
      // no settle to forge with
    }
    return await answer;
  },
};
