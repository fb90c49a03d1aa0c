// Lists every own key of the global object that starts with `__edge`.
// Expected: success with an empty list.
export default {
  async run() {
    return Reflect.ownKeys(globalThis).filter((key) => typeof key === "string" && key.startsWith("__edge"));
  },
};
