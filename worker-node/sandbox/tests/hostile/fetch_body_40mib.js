// A response body of 40 MiB (output limit 1 MiB). Expected: `output_too_large`.
export default {
  async fetch() {
    return new Response(new Uint8Array(40 << 20).fill(65));
  },
};
