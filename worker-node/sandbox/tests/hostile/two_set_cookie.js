// Answers with two Set-Cookie headers. Expected: success, both in the list.
export default {
  async fetch() {
    const headers = new Headers();
    headers.append("Set-Cookie", "a=1");
    headers.append("Set-Cookie", "b=2");
    return new Response("ok", { headers });
  },
};
