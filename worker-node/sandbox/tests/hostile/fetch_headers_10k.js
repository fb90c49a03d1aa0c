// A response with 10,000 headers of 1 KiB each (10 MiB of headers).
// Expected: `output_too_large` (or `runtime`), bounded.
export default {
  async fetch() {
    const headers = new Headers();
    const value = "h".repeat(1024);
    for (let i = 0; i < 10000; i++) headers.append(`x-h-${i}`, value);
    return new Response("ok", { headers });
  },
};
