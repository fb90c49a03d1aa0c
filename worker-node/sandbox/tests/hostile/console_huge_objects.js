// Logs huge objects: a 10 MiB string inside an object, a cyclic object, a
// 100,000-level nested object and 100,000 arguments. Expected: success, bounded.
export default {
  async run() {
    console.log({ big: "o".repeat(10 << 20) });
    const cyclic = { name: "cyclic" };
    cyclic.self = cyclic;
    console.log(cyclic);
    let deep = {};
    for (let i = 0; i < 100000; i++) deep = { deep };
    console.log(deep);
    console.log(...new Array(100000).fill("arg"));
    return "logged";
  },
};
