//! Bindings as seen from inside the sandbox: every call goes to the
//! supervisor, which runs it and answers; the isolate's driver waits.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use edge_engine::HostFunctions;

use super::shared::Shared;
use crate::protocol::Reply;

/// The host functions of one invocation.
pub(super) struct RemoteHost {
    pub shared: Arc<Shared>,
    /// The invocation's request id, so the supervisor knows whose bindings to run.
    pub request: u64,
    pub bindings: Vec<String>,
    /// How long one call may wait for its answer.
    pub wait: Duration,
}

impl HostFunctions for RemoteHost {
    fn bindings(&self) -> Vec<String> {
        self.bindings.clone()
    }

    fn call(&self, name: &str, args_json: &str) -> Result<String, String> {
        let call = self.shared.next_call.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        self.shared.host_calls.lock().insert(call, tx);
        self.shared.send(
            self.request,
            Reply::HostCall {
                call,
                name: name.to_owned(),
                args_json: args_json.to_owned(),
            },
        );
        let reply = rx.recv_timeout(self.wait);
        self.shared.host_calls.lock().remove(&call);
        reply.unwrap_or_else(|_| Err(format!("binding '{name}' did not answer in time")))
    }
}
