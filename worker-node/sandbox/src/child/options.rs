//! The options a supervisor passes to a sandbox on its command line.

use std::path::PathBuf;

/// How a sandbox is to run.
#[derive(Debug, Clone)]
pub(crate) struct ChildOptions {
    /// Isolates kept pre-warmed.
    pub prewarm: usize,
    /// Most isolates at once (pre-warmed ones included).
    pub max_isolates: usize,
    /// An empty network namespace.
    pub network_namespace: bool,
    /// A mount namespace and a root filesystem of its own (`rootfs`).
    pub private_root: bool,
    /// The seccomp filter.
    pub seccomp: bool,
    /// Stop an invocation once the process grew by its memory limit
    /// (`edge_engine::Isolate::watch_process_memory`).
    pub memory_watch: bool,
    /// Drop root for this uid (and gid) once V8 is up; `None` keeps the user.
    pub run_as: Option<u32>,
    /// Where the V8 library is (the supervisor's `edge_engine::library_dir()`,
    /// since the sandbox's environment is empty).
    pub v8_dir: Option<PathBuf>,
}

impl ChildOptions {
    /// The options as command-line arguments, for [`ChildOptions::parse`].
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--prewarm={}", self.prewarm),
            format!("--max-isolates={}", self.max_isolates),
            format!("--netns={}", self.network_namespace),
            format!("--private-root={}", self.private_root),
            format!("--seccomp={}", self.seccomp),
            format!("--memory-watch={}", self.memory_watch),
        ];
        if let Some(uid) = self.run_as {
            args.push(format!("--uid={uid}"));
        }
        if let Some(dir) = &self.v8_dir {
            args.push(format!("--v8-dir={}", dir.display()));
        }
        args
    }

    /// Reads what [`ChildOptions::to_args`] wrote; anything unknown is ignored.
    pub fn parse(args: &[String]) -> ChildOptions {
        let mut options = ChildOptions {
            prewarm: 1,
            max_isolates: 64,
            network_namespace: true,
            private_root: true,
            seccomp: true,
            memory_watch: true,
            run_as: None,
            v8_dir: None,
        };
        for arg in args {
            let Some((key, value)) = arg.split_once('=') else {
                continue;
            };
            match key {
                "--prewarm" => options.prewarm = value.parse().unwrap_or(options.prewarm),
                "--max-isolates" => {
                    options.max_isolates = value.parse().unwrap_or(options.max_isolates)
                }
                "--netns" => options.network_namespace = value == "true",
                "--private-root" => options.private_root = value == "true",
                "--seccomp" => options.seccomp = value == "true",
                "--memory-watch" => options.memory_watch = value == "true",
                "--uid" => options.run_as = value.parse().ok(),
                "--v8-dir" => options.v8_dir = Some(value.into()),
                _ => {}
            }
        }
        options
    }
}
