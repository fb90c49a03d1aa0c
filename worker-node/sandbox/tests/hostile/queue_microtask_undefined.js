// queueMicrotask returns undefined and runs its callback.
// Expected: success with {"returned":"undefined","ran":true}.
export default {
  async run() {
    let ran = false;
    const returned = queueMicrotask(() => {
      ran = true;
    });
    await null;
    await null;
    return { returned: typeof returned, ran };
  },
};
