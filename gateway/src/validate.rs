//! Checks on what clients send, before anything is stored or run; each
//! failure is INVALID_ARGUMENT with a message saying what to fix.

use std::collections::HashSet;

use edge_proto::v1 as pb;
use tonic::Status;

/// Longest Worker id.
pub const MAX_WORKER_ID: usize = 128;
/// Longest tenant name.
pub const MAX_TENANT_NAME: usize = 128;
/// Most modules in one bundle.
pub const MAX_MODULES: usize = 1024;
/// Longest module name (specifier).
pub const MAX_MODULE_NAME: usize = 1024;
/// Largest bundle, all module sources together (the engine's ceiling).
pub const MAX_BUNDLE_BYTES: usize = 32 * 1024 * 1024;
/// Largest memory limit, MiB (the engine's ceiling).
pub const MAX_MEMORY_MB: u32 = 4096;
/// Largest wall or CPU time limit, ms (15 minutes, the engine's ceiling).
pub const MAX_TIME_MS: u32 = 15 * 60 * 1000;

fn id_like(what: &str, value: &str, max: usize) -> Result<(), Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!("{what} is empty")));
    }
    if value.len() > max {
        return Err(Status::invalid_argument(format!(
            "{what} is {} characters; at most {max} are allowed",
            value.len()
        )));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Status::invalid_argument(format!(
            "{what} {value:?} contains {c:?}; use only A-Z, a-z, 0-9, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// A Worker id: 1-128 characters of `[A-Za-z0-9._-]`.
pub fn worker_id(id: &str) -> Result<(), Status> {
    id_like("worker_id", id, MAX_WORKER_ID)
}

/// A tenant name: 1-128 characters of `[A-Za-z0-9._-]`.
pub fn tenant(name: &str) -> Result<(), Status> {
    id_like("tenant", name, MAX_TENANT_NAME)
}

/// A bundle: some modules, unique non-empty names, the main module among
/// them, within the size limits.
pub fn bundle(bundle: Option<&pb::Bundle>) -> Result<&pb::Bundle, Status> {
    let b = bundle.ok_or_else(|| Status::invalid_argument("bundle is missing"))?;
    if b.modules.is_empty() {
        return Err(Status::invalid_argument("bundle has no modules"));
    }
    if b.modules.len() > MAX_MODULES {
        return Err(Status::invalid_argument(format!(
            "bundle has {} modules; at most {MAX_MODULES} are allowed",
            b.modules.len()
        )));
    }
    let mut names = HashSet::with_capacity(b.modules.len());
    let mut total = 0usize;
    for m in &b.modules {
        if m.name.is_empty() || m.name.len() > MAX_MODULE_NAME {
            return Err(Status::invalid_argument(format!(
                "module name {:?} must be 1-{MAX_MODULE_NAME} bytes",
                m.name
            )));
        }
        if !names.insert(m.name.as_str()) {
            return Err(Status::invalid_argument(format!(
                "module {:?} appears twice in the bundle",
                m.name
            )));
        }
        total += m.name.len() + m.source.len();
    }
    if total > MAX_BUNDLE_BYTES {
        return Err(Status::invalid_argument(format!(
            "bundle is {total} bytes; at most {MAX_BUNDLE_BYTES} are allowed"
        )));
    }
    if b.main_module.is_empty() {
        return Err(Status::invalid_argument("bundle.main_module is empty"));
    }
    if !names.contains(b.main_module.as_str()) {
        return Err(Status::invalid_argument(format!(
            "bundle.main_module {:?} is not one of the bundle's modules",
            b.main_module
        )));
    }
    Ok(b)
}

/// Limits within the engine's ceilings (0 means the default).
pub fn limits(limits: Option<&pb::Limits>) -> Result<(), Status> {
    let Some(l) = limits else { return Ok(()) };
    if l.memory_mb > MAX_MEMORY_MB {
        return Err(Status::invalid_argument(format!(
            "limits.memory_mb {} is over the maximum of {MAX_MEMORY_MB}",
            l.memory_mb
        )));
    }
    for (name, v) in [("timeout_ms", l.timeout_ms), ("cpu_ms", l.cpu_ms)] {
        if v > MAX_TIME_MS {
            return Err(Status::invalid_argument(format!(
                "limits.{name} {v} is over the maximum of {MAX_TIME_MS}"
            )));
        }
    }
    Ok(())
}

/// Request limits override the stored ones field by field where non-zero.
pub fn merge_limits(stored: Option<pb::Limits>, request: Option<pb::Limits>) -> Option<pb::Limits> {
    let Some(req) = request else { return stored };
    let base = stored.unwrap_or_default();
    let pick = |r: u32, s: u32| if r != 0 { r } else { s };
    Some(pb::Limits {
        memory_mb: pick(req.memory_mb, base.memory_mb),
        timeout_ms: pick(req.timeout_ms, base.timeout_ms),
        cpu_ms: pick(req.cpu_ms, base.cpu_ms),
    })
}
