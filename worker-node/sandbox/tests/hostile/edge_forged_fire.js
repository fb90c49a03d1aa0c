// Fires its own 500 ms timer early through the runtime's fire() entry point.
// Expected: success with false (the timer did not fire).
const realParse = JSON.parse;
let inv = 1;
JSON.parse = function (text, reviver) {
  const value = realParse.call(JSON, text, reviver);
  if (value && typeof value === "object" && typeof value.inv === "number") inv = value.inv;
  return value;
};
export default {
  async run() {
    let fired = false;
    setTimeout(() => { fired = true; }, 500);
    try {
      for (let id = 1; id < 10; id++) globalThis.__edge.fire(inv, id);
    } catch (_) {
      // no fire to forge with
    }
    return fired;
  },
};
