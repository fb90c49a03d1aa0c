// A sample Worker: `edgectl exec --file examples/hello.ts --call greet --input '{"name":"edge"}'`
// or the same with `--fetch 'https://example.test/hi?name=edge'` instead of --call.
import { greeting, type Greeting } from "./greeting.ts";

export default {
  async greet(input: { name: string }): Promise<Greeting> {
    return greeting(input.name);
  },

  async fetch(request: Request): Promise<Response> {
    const name = new URL(request.url).searchParams.get("name") ?? "world";
    return Response.json(greeting(name));
  },
};
