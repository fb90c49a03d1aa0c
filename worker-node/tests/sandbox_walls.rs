//! The walls around a sandbox, tested from inside it with the probe that
//! debug builds of the sandbox carry: no network, no files of the
//! supervisor, no inherited descriptors or environment, not root, and a
//! seccomp filter whose breach kills only that sandbox.

mod sandbox_support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use sandbox_support::*;
use worker_node::engine::ErrorKind;
use worker_node::engine::InvocationValue;
use worker_node::engine::NoHostFunctions;
use worker_node::sandbox::IsolateHandle;
use worker_node::sandbox::Supervisor;

async fn sandbox(tenant: &str) -> (Supervisor, IsolateHandle) {
    let supervisor = supervisor().await;
    let loaded = supervisor
        .load(tenant, &worker(ADDER), limits(64))
        .await
        .expect("loads");
    (supervisor, loaded.handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_cannot_open_a_tcp_connection() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (supervisor, handle) = sandbox("net").await;
    let (succeeded, detail) = supervisor
        .probe(&handle, "tcp_connect", &address)
        .await
        .expect("probe answers");
    println!("tcp_connect {address}: {detail}");
    assert!(!succeeded, "{detail}");
    assert!(listener.accept().is_err(), "nothing reached the listener");
    let (breach, interfaces) = supervisor
        .probe(&handle, "net_interfaces", "")
        .await
        .expect("probe answers");
    println!("interfaces: {interfaces}");
    assert!(
        !breach,
        "only a loopback (down) in the sandbox's namespace: {interfaces}"
    );
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_cannot_read_the_supervisors_files() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.key");
    let mut file = std::fs::File::create(&secret).unwrap();
    file.write_all(b"do not leak").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (supervisor, handle) = sandbox("files").await;
    let path = secret.display().to_string();
    let (succeeded, detail) = supervisor
        .probe(&handle, "read_file", &path)
        .await
        .expect("probe answers");
    println!("read_file {path}: {detail}");
    assert!(!succeeded, "{detail}");
    let (root, uid) = supervisor
        .probe(&handle, "uid", "")
        .await
        .expect("probe answers");
    println!("sandbox uid: {uid}");
    assert!(!root, "the sandbox must not run as root");
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_holds_only_its_socket_an_empty_environment_and_an_empty_directory() {
    // A descriptor the supervisor holds open must not reach the sandbox.
    let _held = std::fs::File::open("/proc/self/status").unwrap();
    let (supervisor, handle) = sandbox("hygiene").await;
    let (_, fds) = supervisor
        .probe(&handle, "list_fds", "")
        .await
        .expect("probe answers");
    println!("descriptors: {fds}");
    let fds: Vec<(&str, &str)> = fds.split(',').filter_map(|f| f.split_once('=')).collect();
    let socket = fds
        .iter()
        .find(|(fd, _)| *fd == "3")
        .map(|(_, t)| *t)
        .expect("socket at 3");
    assert!(socket.starts_with("socket:"), "{socket}");
    // stdio and V8's /dev/urandom are character devices, the writer holds a
    // clone of the socket, and the probe's own listing of /proc/self/fd is
    // the one directory; no regular file and no other socket.
    for (fd, target) in &fds {
        let allowed = target.starts_with("char:") || *target == socket || *target == "dir";
        assert!(
            allowed,
            "descriptor {fd} ({target}) leaked into the sandbox"
        );
    }
    assert_eq!(fds.iter().filter(|(_, t)| *t == "dir").count(), 1);
    let (has_env, vars) = supervisor
        .probe(&handle, "env", "")
        .await
        .expect("probe answers");
    assert!(!has_env, "environment: {vars}");
    let (has_files, cwd) = supervisor
        .probe(&handle, "cwd", "")
        .await
        .expect("probe answers");
    println!("cwd: {cwd}");
    assert!(!has_files, "{cwd}");
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaking_the_seccomp_filter_kills_only_that_sandbox_with_crashed() {
    let (supervisor, handle) = sandbox("breaker").await;
    let bystander = supervisor
        .load("bystander", &worker(ADDER), limits(64))
        .await
        .expect("loads");
    let error = supervisor
        .probe(&handle, "forbidden_syscall", "")
        .await
        .expect_err("the filter kills");
    println!("forbidden syscall: {error}");
    assert_eq!(error.kind, ErrorKind::Crashed);
    assert!(error.message.contains("seccomp"), "{error}");
    let outcome = supervisor
        .invoke(&handle, &call("run", "1"), Arc::new(NoHostFunctions))
        .await;
    assert_eq!(
        outcome.result.expect_err("its sandbox is gone").kind,
        ErrorKind::Crashed
    );
    let outcome = supervisor
        .invoke(
            &bystander.handle,
            &call("run", "1"),
            Arc::new(NoHostFunctions),
        )
        .await;
    assert_eq!(outcome.result, Ok(InvocationValue::Json("2".into())));
    supervisor.shutdown().await;
}
