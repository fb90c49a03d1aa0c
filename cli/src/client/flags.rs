//! Flags shared by the commands that send code or invoke it: the bundle
//! (read from disk exactly as `edgectl exec` reads it), limits and grants,
//! each checked here and turned into its protobuf form.

use std::path::PathBuf;
use std::time::Duration;

use edge_engine::Invocation;
use edge_engine::Limits;
use edge_proto::v1 as pb;

use crate::exec;
use crate::exec::UsageError;

/// The Worker's code: `--file` and `--module`.
#[derive(clap::Args, Debug)]
pub(crate) struct BundleArgs {
    /// The main module (JS or TS); its default export is the Worker. Modules
    /// it imports with relative specifiers are found next to it on disk.
    #[arg(long)]
    pub(crate) file: PathBuf,
    /// Another module of the bundle, as SPECIFIER=PATH (e.g. ./util.ts=src/util.ts).
    #[arg(long = "module", value_name = "SPECIFIER=PATH")]
    pub(crate) modules: Vec<String>,
}

impl BundleArgs {
    /// The bundle read from disk, as `edgectl exec` reads it.
    pub(crate) fn bundle(&self) -> Result<pb::Bundle, UsageError> {
        let bundle = exec::read_bundle(&self.file, &self.modules, &Limits::default())?;
        Ok(pb::Bundle {
            modules: bundle
                .modules
                .into_iter()
                .map(|m| pb::Module {
                    name: m.name,
                    source: m.source,
                })
                .collect(),
            main_module: bundle.main_module,
        })
    }
}

/// Limits; each one left out is the stored Worker's or the node's default.
#[derive(clap::Args, Debug, Default)]
pub(crate) struct LimitsArgs {
    /// Heap limit of the isolate in MiB.
    #[arg(long)]
    pub(crate) memory_mb: Option<u32>,
    /// Wall-time limit of the invocation in milliseconds.
    #[arg(long)]
    pub(crate) timeout_ms: Option<u32>,
    /// CPU-time limit of the invocation in milliseconds.
    #[arg(long)]
    pub(crate) cpu_ms: Option<u32>,
}

const MIB: u64 = 1024 * 1024;

impl LimitsArgs {
    /// The limits given, each within the engine's range; `None` when none is.
    pub(crate) fn limits(&self) -> Result<Option<pb::Limits>, UsageError> {
        if self.memory_mb.is_none() && self.timeout_ms.is_none() && self.cpu_ms.is_none() {
            return Ok(None);
        }
        let memory_range = Limits::MIN_MEMORY_BYTES / MIB..=Limits::MAX_MEMORY_BYTES / MIB;
        if let Some(mb) = self.memory_mb
            && !memory_range.contains(&u64::from(mb))
        {
            return Err(UsageError(format!(
                "--memory-mb {mb}: the heap limit must be between {} and {} MiB",
                memory_range.start(),
                memory_range.end()
            )));
        }
        let millis = |flag: &str, ms: Option<u32>, max: Duration| match ms {
            Some(ms)
                if Duration::from_millis(ms.into()) < Limits::MIN_TIME
                    || Duration::from_millis(ms.into()) > max =>
            {
                Err(UsageError(format!(
                    "{flag} {ms}: must be between {} and {} milliseconds",
                    Limits::MIN_TIME.as_millis(),
                    max.as_millis()
                )))
            }
            ms => Ok(ms.unwrap_or(0)),
        };
        Ok(Some(pb::Limits {
            memory_mb: self.memory_mb.unwrap_or(0),
            timeout_ms: millis("--timeout-ms", self.timeout_ms, Limits::MAX_WALL_TIME)?,
            cpu_ms: millis("--cpu-ms", self.cpu_ms, Limits::MAX_CPU_TIME)?,
        }))
    }
}

/// Bindings granted to the Worker; none by default.
#[derive(clap::Args, Debug, Default)]
pub(crate) struct GrantsArgs {
    /// A host `fetch` may reach, e.g. api.example.com or *.example.com (repeatable).
    #[arg(long = "allow-host", value_name = "HOST")]
    pub(crate) allow_hosts: Vec<String>,
    /// A secret of the tenant the Worker may use (repeatable).
    #[arg(long = "secret", value_name = "NAME")]
    pub(crate) secrets: Vec<String>,
    /// Size of a scratch file system in MiB.
    #[arg(long, value_name = "MIB")]
    pub(crate) scratch_mb: Option<u32>,
    /// A Worker id of this tenant the Worker may call (repeatable).
    #[arg(long = "sub-worker", value_name = "WORKER_ID")]
    pub(crate) sub_workers: Vec<String>,
    /// An MCP server whose tools the Worker may call (repeatable).
    #[arg(long = "mcp-server", value_name = "SERVER")]
    pub(crate) mcp_servers: Vec<String>,
}

impl GrantsArgs {
    /// The grants given; `None` when none is.
    pub(crate) fn grants(&self) -> Option<pb::Grants> {
        let grants = pb::Grants {
            fetch_allow_hosts: self.allow_hosts.clone(),
            secrets: self.secrets.clone(),
            scratch_fs_mb: self.scratch_mb.unwrap_or(0),
            sub_workers: self.sub_workers.clone(),
            mcp_servers: self.mcp_servers.clone(),
        };
        (grants != pb::Grants::default()).then_some(grants)
    }
}

/// What `--call`/`--fetch` ask for, checked as `edgectl exec` checks it.
pub(crate) enum Ask {
    /// `--fetch` (or the default GET http://localhost/).
    Fetch(pb::HttpRequest),
    /// `--call` with `--input`.
    Call(pb::MethodCall),
}

/// The invocation the flags describe, in its protobuf form.
pub(crate) fn ask(args: &exec::InvocationArgs) -> Result<Ask, UsageError> {
    Ok(match args.invocation()? {
        Invocation::Call { method, input_json } => Ask::Call(pb::MethodCall { method, input_json }),
        Invocation::Fetch(request) => Ask::Fetch(pb::HttpRequest {
            method: request.method,
            url: request.url,
            headers: request
                .headers
                .into_iter()
                .map(|(name, value)| pb::Header { name, value })
                .collect(),
            body: request.body,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_and_absent_ones_are_zero() {
        assert_eq!(LimitsArgs::default().limits().ok(), Some(None));
        let some = LimitsArgs {
            memory_mb: Some(64),
            ..LimitsArgs::default()
        };
        assert_eq!(
            some.limits().ok().flatten(),
            Some(pb::Limits {
                memory_mb: 64,
                timeout_ms: 0,
                cpu_ms: 0
            })
        );
        for bad in [
            LimitsArgs {
                memory_mb: Some(0),
                ..LimitsArgs::default()
            },
            LimitsArgs {
                memory_mb: Some(4097),
                ..LimitsArgs::default()
            },
            LimitsArgs {
                timeout_ms: Some(0),
                ..LimitsArgs::default()
            },
            LimitsArgs {
                cpu_ms: Some(900_001),
                ..LimitsArgs::default()
            },
        ] {
            assert!(bad.limits().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn grants_are_none_unless_given() {
        assert_eq!(GrantsArgs::default().grants(), None);
        let grants = GrantsArgs {
            allow_hosts: vec!["api.example.com".into()],
            scratch_mb: Some(8),
            ..GrantsArgs::default()
        }
        .grants()
        .expect("grants");
        assert_eq!(grants.fetch_allow_hosts, ["api.example.com"]);
        assert_eq!(grants.scratch_fs_mb, 8);
    }

    fn fetch_args(headers: &[&str]) -> exec::InvocationArgs {
        exec::InvocationArgs {
            fetch: Some("https://example.com/x".into()),
            method: "post".into(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            body: Some("hi".into()),
            input: "null".into(),
            ..exec::InvocationArgs::default()
        }
    }

    #[test]
    fn headers_are_parsed_and_checked() {
        let Ok(Ask::Fetch(request)) = ask(&fetch_args(&["X-A: 1", "x-b:a:b"])) else {
            panic!("a valid fetch");
        };
        assert_eq!(request.method, "POST");
        assert_eq!(request.body, b"hi");
        let headers: Vec<_> = request
            .headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str()))
            .collect();
        assert_eq!(headers, [("X-A", "1"), ("x-b", "a:b")]);
        for bad in ["no-colon", "bad name:1", ":empty"] {
            assert!(ask(&fetch_args(&[bad])).is_err(), "{bad}");
        }
    }

    #[test]
    fn calls_need_valid_json_input() {
        let call = |input: &str| exec::InvocationArgs {
            call: Some("greet".into()),
            input: input.into(),
            method: "GET".into(),
            ..exec::InvocationArgs::default()
        };
        let Ok(Ask::Call(c)) = ask(&call(r#"{"name": "x"}"#)) else {
            panic!("a valid call");
        };
        assert_eq!(c.method, "greet");
        assert!(ask(&call("{")).is_err());
    }
}
