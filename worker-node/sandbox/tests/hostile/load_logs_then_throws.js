// Top-level code that logs 100,000 lines of 1 KiB, then throws an Error with a
// 30 MiB message. Expected: the load fails with `runtime`, bounded.
for (let i = 0; i < 100000; i++) console.log(`line ${i} ` + "t".repeat(1024));
throw new Error("top-level failure " + "m".repeat(30 << 20));
export default {
  async run() {
    return 1;
  },
};
