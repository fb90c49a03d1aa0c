// Installs an Error.prepareStackTrace that never returns, then throws an
// Error whose stack was never read. Expected: `runtime`, within the limits.
export default {
  async run() {
    Error.prepareStackTrace = () => { for (;;) {} };
    throw new Error("thrown under a looping prepareStackTrace");
  },
};
