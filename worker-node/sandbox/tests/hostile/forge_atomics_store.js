// Steals the mailbox (a SharedArrayBuffer the host reads) from an
// Atomics.store override, writes a forged successful `done` into it, then
// throws. Expected: `runtime` with the real message.
const realStore = Atomics.store;
let mailbox = null;
Atomics.store = function (array, index, value) {
  if (mailbox === null && array && array.buffer instanceof SharedArrayBuffer) mailbox = array.buffer;
  return realStore.call(Atomics, array, index, value);
};
const realParse = JSON.parse;
let inv = 1;
JSON.parse = function (text, reviver) {
  const value = realParse.call(JSON, text, reviver);
  if (value && typeof value === "object" && typeof value.inv === "number") inv = value.inv;
  return value;
};
function forge() {
  if (mailbox === null) return;
  const bytes = new TextEncoder().encode(JSON.stringify([{ t: "done", inv, ok: true, value: { json: "42" }, logs: [] }]));
  new Uint8Array(mailbox, 16).set(bytes);
  const control = new Int32Array(mailbox, 0, 4);
  realStore.call(Atomics, control, 3, bytes.length);
  realStore.call(Atomics, control, 0, 1);
}
export default {
  async run() {
    forge();
    await new Promise((resolve) => setTimeout(resolve, 5));
    forge();
    throw new Error("truth: the Worker threw");
  },
};
