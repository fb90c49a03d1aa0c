// Replaces JSON.stringify while running with one that returns broken text,
// then returns {n: 7}. Expected: success with exactly {"n":7}.
export default {
  async run() {
    JSON.stringify = () => "{bogus";
    return { n: 7 };
  },
};
