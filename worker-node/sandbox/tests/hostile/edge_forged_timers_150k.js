// Overrides JSON.stringify so the first batch the runtime sends carries
// 150,000 forged zero-delay timers, then returns after a real timer.
// Expected: success with "real", within the time limits.
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
    const timers = [];
    for (let i = 0; i < 150000; i++) timers.push({ t: "timer", inv, id: 1e9 + i, ms: 0 });
    return realStringify.call(JSON, timers.concat(value), replacer, space);
  }
  return realStringify.call(JSON, value, replacer, space);
};
export default {
  async run() {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return "real";
  },
};
