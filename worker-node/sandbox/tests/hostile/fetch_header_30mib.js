// A response carrying one header whose value is 30 MiB.
// Expected: `output_too_large` (or `runtime`), bounded.
export default {
  async fetch() {
    return new Response("ok", { headers: { "x-big": "v".repeat(30 << 20) } });
  },
};
