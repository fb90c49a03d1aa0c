export interface Greeting {
  message: string;
  id: string;
}

export function greeting(name: string): Greeting {
  return { message: `Hello, ${name}, from V8 ${"isolate"}!`, id: crypto.randomUUID() };
}
