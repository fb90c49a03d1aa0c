// Overrides JSON.stringify so the first batch the runtime sends carries
// 150,000 forged binding calls, then returns after a timer. Expected: success
// with "real", within the time limits.
const realStringify = JSON.stringify;
const realParse = JSON.parse;
let inv = 1;
JSON.parse = function (text, reviver) {
  const value = realParse.call(JSON, text, reviver);
  if (value && typeof value === "object" && typeof value.inv === "number") inv = value.inv;
  return value;
};
let forged = false;
JSON.stringify = function (value, replacer, space) {
  if (!forged && Array.isArray(value) && value.some((m) => m && m.t === "timer")) {
    forged = true;
    const calls = [];
    for (let i = 0; i < 150000; i++) calls.push({ t: "call", inv, id: 1e9 + i, name: "ping", args: "[]" });
    return realStringify.call(JSON, calls.concat(value), replacer, space);
  }
  return realStringify.call(JSON, value, replacer, space);
};
export default {
  async run() {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return "real";
  },
};
