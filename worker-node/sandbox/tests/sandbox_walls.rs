//! The walls around a sandbox, tested from inside it with the probe that
//! debug builds of the sandbox carry: no network, no files of the host (a
//! read-only root of its own holding only its /proc and /dev/urandom), no
//! inherited descriptors or environment, not root, and a seccomp filter
//! whose breach kills only that sandbox.

mod sandbox_support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use edge_engine::ErrorKind;
use edge_engine::InvocationValue;
use edge_engine::NoHostFunctions;
use edge_sandbox::IsolateHandle;
use edge_sandbox::Probe;
use edge_sandbox::Supervisor;
use edge_sandbox::Syscall;
use sandbox_support::*;

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
        .probe(&handle, Probe::TcpConnect(address.clone()))
        .await
        .expect("probe answers");
    println!("tcp_connect {address}: {detail}");
    assert!(!succeeded, "{detail}");
    assert!(listener.accept().is_err(), "nothing reached the listener");
    let (breach, interfaces) = supervisor
        .probe(&handle, Probe::NetInterfaces)
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
        .probe(&handle, Probe::ReadFile(path.to_string()))
        .await
        .expect("probe answers");
    println!("read_file {path}: {detail}");
    assert!(!succeeded, "{detail}");
    let (root, uid) = supervisor
        .probe(&handle, Probe::Uid)
        .await
        .expect("probe answers");
    println!("sandbox uid: {uid}");
    assert!(!root, "the sandbox must not run as root");
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_holds_only_its_socket_and_an_empty_environment() {
    // A descriptor the supervisor holds open must not reach the sandbox.
    let _held = std::fs::File::open("/proc/self/status").unwrap();
    let (supervisor, handle) = sandbox("hygiene").await;
    let (_, fds) = supervisor
        .probe(&handle, Probe::ListFds)
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
        .probe(&handle, Probe::Env)
        .await
        .expect("probe answers");
    assert!(!has_env, "environment: {vars}");
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
        .probe(&handle, Probe::ForbiddenSyscall(Syscall::Chroot))
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

/// Asks `handle`'s sandbox to list `path`: `Some(names)` (sorted, joined by
/// commas) if it could.
async fn listing(supervisor: &Supervisor, handle: &IsolateHandle, path: &str) -> Option<String> {
    let (listed, detail) = supervisor
        .probe(handle, Probe::ListDir(path.to_string()))
        .await
        .expect("probe answers");
    println!("list_dir {path}: {listed} {detail}");
    listed.then_some(detail)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_cannot_read_world_readable_host_files() {
    // A file anyone on the host may read, in a directory anyone may enter.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let public = dir.path().join("public.txt");
    std::fs::write(&public, b"host data").unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
    let library = edge_engine::library_dir().join("libmini_racer.so");
    let host_files = [
        public.display().to_string(),
        "/etc/passwd".to_owned(),
        // Its own executable and the V8 library it has mapped: gone too.
        sandbox_executable().to_owned(),
        library.display().to_string(),
    ];
    for path in &host_files {
        assert!(std::fs::metadata(path).is_ok(), "{path} exists on the host");
    }
    // Around the root: through a process's root link, or up from it.
    let detours = [
        format!("/proc/{}/root/etc/passwd", std::process::id()),
        "/proc/self/root/etc/passwd".to_owned(),
        "/../../etc/passwd".to_owned(),
    ];
    let (supervisor, handle) = sandbox("world-readable").await;
    for path in host_files.iter().chain(&detours) {
        let (succeeded, detail) = supervisor
            .probe(&handle, Probe::ReadFile(path.to_string()))
            .await
            .expect("probe answers");
        println!("read_file {path}: {detail}");
        assert!(!succeeded, "{path}: {detail}");
    }
    assert_eq!(
        listing(&supervisor, &handle, &dir.path().display().to_string()).await,
        None
    );
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_sees_only_its_own_root_with_proc_and_urandom() {
    let (supervisor, handle) = sandbox("root-view").await;
    let other = supervisor
        .load("root-view-neighbour", &worker(ADDER), limits(64))
        .await
        .expect("loads");
    let pid = handle.sandbox_pid();
    assert_ne!(pid, other.handle.sandbox_pid());

    assert_eq!(
        listing(&supervisor, &handle, "/").await.as_deref(),
        Some("dev,proc")
    );
    // The working directory is that root.
    assert_eq!(
        listing(&supervisor, &handle, ".").await.as_deref(),
        Some("dev,proc")
    );
    assert_eq!(
        listing(&supervisor, &handle, "/dev").await.as_deref(),
        Some("urandom")
    );
    // Its own process only: no other tenant's sandbox, no supervisor, no init.
    let own = format!("{pid},self");
    assert_eq!(listing(&supervisor, &handle, "/proc").await, Some(own));
    for path in [
        format!("/proc/{}/status", other.handle.sandbox_pid()),
        format!("/proc/{}/status", std::process::id()),
        "/proc/1/status".to_owned(),
        "/proc/sys/kernel/hostname".to_owned(),
    ] {
        let (succeeded, detail) = supervisor
            .probe(&handle, Probe::ReadFile(path.to_string()))
            .await
            .expect("probe answers");
        println!("read_file {path}: {detail}");
        assert!(!succeeded, "{path}: {detail}");
    }
    // What the engine needs of its own process is there.
    let (read, detail) = supervisor
        .probe(
            &handle,
            Probe::ReadFile(format!("/proc/self/task/{pid}/schedstat")),
        )
        .await
        .expect("probe answers");
    assert!(read, "its own schedstat: {detail}");
    // Every thread (V8's platform and isolate threads too) is in that root.
    let (listed, roots) = supervisor
        .probe(&handle, Probe::ThreadRoots)
        .await
        .expect("probe answers");
    println!("thread roots: {roots}");
    assert!(listed, "{roots}");
    let roots: Vec<&str> = roots.split(';').collect();
    assert!(roots.len() > 2, "V8 runs threads of its own: {roots:?}");
    for root in &roots {
        assert!(root.ends_with(":dev,proc"), "thread root {root}");
    }
    // And a Worker still runs in it, in a fresh isolate made after the pivot.
    let fresh = supervisor
        .load("root-view", &worker(ADDER), limits(64))
        .await
        .expect("a second Worker loads in the same sandbox");
    assert_eq!(fresh.handle.sandbox_pid(), pid);
    let outcome = supervisor
        .invoke(&fresh.handle, &call("run", "41"), Arc::new(NoHostFunctions))
        .await;
    assert_eq!(outcome.result, Ok(InvocationValue::Json("42".into())));
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_cannot_write_anywhere() {
    // A directory anyone on the host may write to.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let host_target = dir.path().join("dropped.txt");
    let (supervisor, handle) = sandbox("writer").await;
    for path in [
        host_target.display().to_string(),
        "/dropped".to_owned(),
        "/dev/dropped".to_owned(),
        "/proc/dropped".to_owned(),
        "/proc/self/dropped".to_owned(),
        "/proc/self/comm".to_owned(),
        "/tmp/dropped".to_owned(),
        "dropped".to_owned(),
    ] {
        let (succeeded, detail) = supervisor
            .probe(&handle, Probe::WriteFile(path.to_string()))
            .await
            .expect("probe answers");
        println!("write_file {path}: {detail}");
        assert!(!succeeded, "{path}: {detail}");
    }
    assert!(!host_target.exists(), "nothing reached the host");
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_mounts_never_reach_the_hosts_mount_table() {
    let mounts = || std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let base = tempfile::tempdir().unwrap();
    let before = mounts();
    let supervisor = supervisor_with(edge_sandbox::SandboxConfig {
        workdir: Some(base.path().to_owned()),
        ..config()
    })
    .await;
    let loaded = supervisor
        .load("mounts", &worker(ADDER), limits(64))
        .await
        .expect("loads");
    assert_eq!(
        listing(&supervisor, &loaded.handle, "/").await.as_deref(),
        Some("dev,proc"),
        "the sandbox runs in its own root"
    );
    let during = mounts();
    let base_path = base.path().display().to_string();
    assert!(
        !during.contains(&base_path),
        "a sandbox mount shows on the host: {during}"
    );
    assert_eq!(
        during, before,
        "the host's mount table changed while sandboxes ran"
    );
    supervisor.shutdown().await;
    assert_eq!(mounts(), before, "the host's mount table changed");
    let left: Vec<_> = std::fs::read_dir(base.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_worker_keeps_local_time_in_utc() {
    // ICU and glibc look for /etc/localtime and zoneinfo; the sandbox has
    // neither, so local time is UTC (and looking must not break seccomp).
    const DATES: &str = "export default { async run() { return [
        new Date(0).toString(),
        new Date(2020, 5, 1).getTimezoneOffset(),
        new Intl.DateTimeFormat().resolvedOptions().timeZone,
        new Date(0).toLocaleString('en-US', { timeZone: 'Asia/Tokyo' }),
    ]; } };";
    let supervisor = supervisor().await;
    let loaded = supervisor
        .load("dates", &worker(DATES), limits(64))
        .await
        .expect("loads");
    let outcome = supervisor
        .invoke(
            &loaded.handle,
            &call("run", "null"),
            Arc::new(NoHostFunctions),
        )
        .await;
    assert_eq!(
        outcome.result,
        Ok(InvocationValue::Json(
            r#"["Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)",0,"UTC","1/1/1970, 9:00:00 AM"]"#
                .into()
        ))
    );
    supervisor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_cannot_change_its_filesystem_view() {
    let supervisor = supervisor().await;
    for call in [Syscall::Mount, Syscall::Umount2, Syscall::PivotRoot] {
        let loaded = supervisor
            .load(&format!("remount-{call:?}"), &worker(ADDER), limits(64))
            .await
            .expect("loads");
        let error = supervisor
            .probe(&loaded.handle, Probe::ForbiddenSyscall(call))
            .await
            .expect_err("the filter kills");
        println!("{call:?}: {error}");
        assert_eq!(error.kind, ErrorKind::Crashed);
        assert!(error.message.contains("seccomp"), "{call:?}: {error}");
    }
    supervisor.shutdown().await;
}
