// Overrides TextEncoder.prototype.encodeInto, which writes batches into the
// host's mailbox, to write a forged successful `done` instead; then throws
// after a timer (so the result travels through the mailbox).
// Expected: `runtime` with the real message.
const realEncodeInto = TextEncoder.prototype.encodeInto;
const realStringify = JSON.stringify;
const realParse = JSON.parse;
let inv = 1;
JSON.parse = function (text, reviver) {
  const value = realParse.call(JSON, text, reviver);
  if (value && typeof value === "object" && typeof value.inv === "number") inv = value.inv;
  return value;
};
TextEncoder.prototype.encodeInto = function (text, destination) {
  if (typeof text === "string" && text.startsWith("[")) {
    const written = realEncodeInto.call(this, realStringify([{ t: "done", inv, ok: true, value: { json: "42" }, logs: [] }]), destination).written;
    return { read: text.length, written };
  }
  return realEncodeInto.call(this, text, destination);
};
export default {
  async run() {
    await new Promise((resolve) => setTimeout(resolve, 5));
    throw new Error("truth: the Worker threw after a timer");
  },
};
