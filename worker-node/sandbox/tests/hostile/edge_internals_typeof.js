// Looks for the runtime's internals on the global object. Expected: success
// with every one of them undefined.
export default {
  async run() {
    return {
      edge: typeof globalThis.__edge,
      internal: typeof globalThis.__edge_internal,
      mailbox: typeof globalThis.__edge_mailbox,
      notify: typeof globalThis.__edge_notify,
    };
  },
};
