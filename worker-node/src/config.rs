//! The worker node's settings: a TOML file, command-line flags and `EDGE_*`
//! environment variables, merged as flag/env > file > default and checked
//! before anything starts.
//!
//! Every flag has a TOML key of the same name with `_` for `-`
//! (`--memory-budget-mb` is `memory_budget_mb`). Relative paths in a file
//! are relative to the file's directory.

use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Default [`NodeConfig::max_sandboxes`].
pub const DEFAULT_MAX_SANDBOXES: usize = 64;
/// Default [`NodeConfig::max_isolates`].
pub const DEFAULT_MAX_ISOLATES: u32 = 1024;
/// Default memory budget for loaded Workers, MiB.
pub const DEFAULT_MEMORY_BUDGET_MB: u64 = 4096;
/// Default [`NodeConfig::heartbeat`], ms.
pub const DEFAULT_HEARTBEAT_MS: u64 = 1000;
/// Default [`NodeConfig::drain_timeout`], ms.
pub const DEFAULT_DRAIN_TIMEOUT_MS: u64 = 10_000;

/// Shortest heartbeat interval: below it the control plane's log grows for nothing.
const MIN_HEARTBEAT_MS: u64 = 50;
/// Longest heartbeat interval: the control plane marks a node unhealthy
/// after 10 s of silence by default.
const MAX_HEARTBEAT_MS: u64 = 60_000;
/// Longest drain: a deployment's stop timeout is minutes at most.
const MAX_DRAIN_TIMEOUT_MS: u64 = 600_000;
/// Smallest memory budget that holds a few Workers.
const MIN_MEMORY_BUDGET_MB: u64 = 16;
/// Largest memory budget (1 TiB): beyond any machine we run on.
const MAX_MEMORY_BUDGET_MB: u64 = 1 << 20;
/// Longest node id or region name.
const MAX_NAME_BYTES: usize = 64;

/// Command-line flags (each also an `EDGE_*` variable). Every value is
/// optional here; [`NodeConfig::load`] fills the gaps from the file and the
/// defaults and says what is missing.
#[derive(Debug, Default, Clone, clap::Parser)]
#[command(
    name = "worker-node",
    version,
    about = "A worker node: runs tenants' Workers in sandboxed V8 isolates",
    args_override_self = true
)]
pub struct Args {
    /// TOML file with any of the settings below (flags and env override it).
    #[arg(long, env = "EDGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id, unique in the cluster, e.g. `eu-1`.
    #[arg(long, env = "EDGE_NODE_ID")]
    pub node_id: Option<String>,
    /// The region the node serves, e.g. `eu`.
    #[arg(long, env = "EDGE_REGION")]
    pub region: Option<String>,
    /// Latitude of the node's site, degrees in [-90, 90].
    #[arg(long, env = "EDGE_LATITUDE", allow_negative_numbers = true)]
    pub latitude: Option<f64>,
    /// Longitude of the node's site, degrees in [-180, 180].
    #[arg(long, env = "EDGE_LONGITUDE", allow_negative_numbers = true)]
    pub longitude: Option<f64>,
    /// Address to serve gRPC on, host:port (port 0 picks a free port).
    #[arg(long, env = "EDGE_LISTEN")]
    pub listen: Option<String>,
    /// Address gateways reach this node at (default: the bound address).
    #[arg(long, env = "EDGE_ADVERTISE")]
    pub advertise: Option<String>,
    /// Control-plane addresses, host:port, comma-separated.
    #[arg(long, env = "EDGE_CONTROL_PLANE", value_delimiter = ',')]
    pub control_plane: Option<Vec<String>>,
    /// Directory of the node's state (billing outbox, bundle cache).
    #[arg(long, env = "EDGE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Most sandbox processes on the node.
    #[arg(long, env = "EDGE_MAX_SANDBOXES")]
    pub max_sandboxes: Option<usize>,
    /// Most loaded Workers (isolates) on the node: its capacity.
    #[arg(long, env = "EDGE_MAX_ISOLATES")]
    pub max_isolates: Option<u32>,
    /// Memory loaded Workers may hold together, MiB.
    #[arg(long, env = "EDGE_MEMORY_BUDGET_MB")]
    pub memory_budget_mb: Option<u64>,
    /// Interval between heartbeats to the control plane, ms.
    #[arg(long, env = "EDGE_HEARTBEAT_MS")]
    pub heartbeat_ms: Option<u64>,
    /// How long a drain waits for in-flight calls, ms.
    #[arg(long, env = "EDGE_DRAIN_TIMEOUT_MS")]
    pub drain_timeout_ms: Option<u64>,
}

/// The TOML file: the same settings as [`Args`], all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    node_id: Option<String>,
    region: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    listen: Option<String>,
    advertise: Option<String>,
    control_plane: Option<Vec<String>>,
    data_dir: Option<PathBuf>,
    max_sandboxes: Option<usize>,
    max_isolates: Option<u32>,
    memory_budget_mb: Option<u64>,
    heartbeat_ms: Option<u64>,
    drain_timeout_ms: Option<u64>,
}

/// Why the settings are not usable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Cause, with line and column.
        source: Box<toml::de::Error>,
    },
    /// A required setting was given nowhere.
    #[error("{0} is required (flag --{flag}, env {env}, or `{key}` in the config file)", flag = .0.replace('_', "-"), env = format!("EDGE_{}", .0.to_uppercase()), key = .0)]
    Missing(&'static str),
    /// A setting has a value it may not have.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The setting's TOML name.
        setting: &'static str,
        /// What is wrong and what would be right.
        reason: String,
    },
}

/// The node's checked settings.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// The node's id in the cluster.
    pub node_id: String,
    /// The region it serves.
    pub region: String,
    /// Latitude, degrees.
    pub latitude: f64,
    /// Longitude, degrees.
    pub longitude: f64,
    /// Where to listen.
    pub listen: SocketAddr,
    /// What to register as the node's address (`None`: the bound address).
    pub advertise: Option<String>,
    /// Control-plane addresses, host:port, in the order to try them.
    pub control_plane: Vec<String>,
    /// The node's state directory.
    pub data_dir: PathBuf,
    /// Most sandbox processes.
    pub max_sandboxes: usize,
    /// Most loaded Workers: the capacity the node registers.
    pub max_isolates: u32,
    /// Memory loaded Workers may hold, bytes.
    pub memory_budget_bytes: u64,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// How long a drain waits for in-flight calls.
    pub drain_timeout: Duration,
}

impl NodeConfig {
    /// Merges `args` over the file they name (if any) over the defaults,
    /// and checks the result.
    pub fn load(args: Args) -> Result<NodeConfig, ConfigError> {
        let (file, base) = match &args.config {
            Some(path) => (read_file(path)?, path.parent().map(Path::to_path_buf)),
            None => (FileConfig::default(), None),
        };
        let in_file_dir = |p: PathBuf| match &base {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p,
        };
        let node_id = args.node_id.or(file.node_id);
        let region = args.region.or(file.region);
        let listen = args.listen.or(file.listen);
        let control_plane = args.control_plane.or(file.control_plane);
        let data_dir = args.data_dir.or(file.data_dir.map(in_file_dir));
        let config = NodeConfig {
            node_id: name("node_id", node_id.ok_or(ConfigError::Missing("node_id"))?)?,
            region: name("region", region.ok_or(ConfigError::Missing("region"))?)?,
            latitude: degrees("latitude", args.latitude.or(file.latitude), 90.0)?,
            longitude: degrees("longitude", args.longitude.or(file.longitude), 180.0)?,
            listen: socket_addr(&listen.ok_or(ConfigError::Missing("listen"))?)?,
            advertise: args
                .advertise
                .or(file.advertise)
                .map(|a| host_port("advertise", &a))
                .transpose()?,
            control_plane: control_planes(
                control_plane.ok_or(ConfigError::Missing("control_plane"))?,
            )?,
            data_dir: data_dir.ok_or(ConfigError::Missing("data_dir"))?,
            max_sandboxes: at_least(
                "max_sandboxes",
                args.max_sandboxes
                    .or(file.max_sandboxes)
                    .unwrap_or(DEFAULT_MAX_SANDBOXES),
                1,
            )?,
            max_isolates: at_least(
                "max_isolates",
                args.max_isolates
                    .or(file.max_isolates)
                    .unwrap_or(DEFAULT_MAX_ISOLATES),
                1,
            )?,
            memory_budget_bytes: within(
                "memory_budget_mb",
                args.memory_budget_mb
                    .or(file.memory_budget_mb)
                    .unwrap_or(DEFAULT_MEMORY_BUDGET_MB),
                MIN_MEMORY_BUDGET_MB,
                MAX_MEMORY_BUDGET_MB,
            )? << 20,
            heartbeat: Duration::from_millis(within(
                "heartbeat_ms",
                args.heartbeat_ms
                    .or(file.heartbeat_ms)
                    .unwrap_or(DEFAULT_HEARTBEAT_MS),
                MIN_HEARTBEAT_MS,
                MAX_HEARTBEAT_MS,
            )?),
            drain_timeout: Duration::from_millis(within(
                "drain_timeout_ms",
                args.drain_timeout_ms
                    .or(file.drain_timeout_ms)
                    .unwrap_or(DEFAULT_DRAIN_TIMEOUT_MS),
                0,
                MAX_DRAIN_TIMEOUT_MS,
            )?),
        };
        Ok(config)
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

/// A node id or region: what goes into billing keys and logs, so plain.
fn name(setting: &'static str, value: String) -> Result<String, ConfigError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if value.is_empty() || value.len() > MAX_NAME_BYTES || !value.chars().all(plain) {
        return Err(invalid(
            setting,
            format!(
                "{value:?} must be 1 to {MAX_NAME_BYTES} characters of letters, digits, '-', '_' or '.'"
            ),
        ));
    }
    Ok(value)
}

fn degrees(setting: &'static str, value: Option<f64>, bound: f64) -> Result<f64, ConfigError> {
    let value = value.ok_or(ConfigError::Missing(setting))?;
    if !value.is_finite() || value < -bound || value > bound {
        return Err(invalid(
            setting,
            format!("{value} is out of range; it must be in [-{bound}, {bound}] degrees"),
        ));
    }
    Ok(value)
}

fn socket_addr(value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        invalid(
            "listen",
            format!("{value:?} is not an IP address and port, e.g. 127.0.0.1:7100 or 0.0.0.0:0"),
        )
    })
}

/// `host:port` with a port number, an optional `http://` in front dropped.
fn host_port(setting: &'static str, value: &str) -> Result<String, ConfigError> {
    let trimmed = value.trim();
    let bare = trimmed.strip_prefix("http://").unwrap_or(trimmed);
    let valid = bare
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        && !bare.contains(['/', ' ']);
    if !valid {
        return Err(invalid(
            setting,
            format!("{value:?} is not host:port, e.g. 127.0.0.1:7001"),
        ));
    }
    Ok(bare.to_owned())
}

fn control_planes(values: Vec<String>) -> Result<Vec<String>, ConfigError> {
    let addrs: Vec<String> = values
        .iter()
        .filter(|v| !v.trim().is_empty())
        .map(|v| host_port("control_plane", v))
        .collect::<Result<_, _>>()?;
    if addrs.is_empty() {
        return Err(invalid(
            "control_plane",
            "at least one control-plane address is needed",
        ));
    }
    Ok(addrs)
}

fn at_least<T: PartialOrd + std::fmt::Display>(
    setting: &'static str,
    value: T,
    min: T,
) -> Result<T, ConfigError> {
    if value < min {
        return Err(invalid(
            setting,
            format!("{value} is below the minimum of {min}"),
        ));
    }
    Ok(value)
}

fn within(setting: &'static str, value: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if value < min || value > max {
        return Err(invalid(
            setting,
            format!("{value} is out of range; it must be from {min} to {max}"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn args(flags: &[&str]) -> Args {
        let mut argv = vec!["worker-node"];
        argv.extend_from_slice(flags);
        Args::try_parse_from(argv).expect("flags parse")
    }

    const REQUIRED: &[&str] = &[
        "--node-id",
        "eu-1",
        "--region",
        "eu",
        "--latitude",
        "50.11",
        "--longitude",
        "-8.68",
        "--listen",
        "127.0.0.1:0",
        "--control-plane",
        "127.0.0.1:7001,http://127.0.0.1:7002",
        "--data-dir",
        "/tmp/n",
    ];

    #[test]
    fn flags_alone_make_a_config_with_defaults() {
        let config = NodeConfig::load(args(REQUIRED)).unwrap();
        assert_eq!(config.node_id, "eu-1");
        assert_eq!(config.longitude, -8.68);
        assert_eq!(config.control_plane, ["127.0.0.1:7001", "127.0.0.1:7002"]);
        assert_eq!(
            config.heartbeat,
            Duration::from_millis(DEFAULT_HEARTBEAT_MS)
        );
        assert_eq!(config.drain_timeout, Duration::from_secs(10));
        assert_eq!(config.memory_budget_bytes, DEFAULT_MEMORY_BUDGET_MB << 20);
        assert_eq!(config.advertise, None);
    }

    #[test]
    fn flags_override_the_file_and_file_paths_are_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("node.toml");
        std::fs::write(
            &file,
            r#"
node_id = "us-1"
region = "us"
latitude = 38.95
longitude = -77.45
listen = "127.0.0.1:0"
control_plane = ["127.0.0.1:7001"]
data_dir = "state"
heartbeat_ms = 250
max_isolates = 7
"#,
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let config = NodeConfig::load(args(&["--config", path, "--max-isolates", "9"])).unwrap();
        assert_eq!(config.node_id, "us-1");
        assert_eq!(config.data_dir, dir.path().join("state"));
        assert_eq!(config.heartbeat, Duration::from_millis(250));
        assert_eq!(config.max_isolates, 9, "the flag wins over the file");
    }

    #[test]
    fn bad_settings_are_named_with_what_would_be_right() {
        let error = |flags: &[&str]| {
            let mut all = REQUIRED.to_vec();
            all.extend_from_slice(flags);
            NodeConfig::load(args(&all)).unwrap_err().to_string()
        };
        assert!(error(&["--latitude", "91"]).contains("latitude: 91 is out of range"));
        assert!(error(&["--listen", "localhost"]).contains("listen"));
        assert!(error(&["--control-plane", "nowhere"]).contains("host:port"));
        assert!(error(&["--heartbeat-ms", "0"]).contains("heartbeat_ms"));
        assert!(error(&["--node-id", "a b"]).contains("node_id"));
        assert!(error(&["--max-isolates", "0"]).contains("max_isolates"));
        let missing = NodeConfig::load(args(&["--node-id", "x"]))
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("region is required") && missing.contains("EDGE_REGION"),
            "{missing}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "node_idd = \"x\"\n").unwrap();
        let unknown = NodeConfig::load(args(&["--config", file.to_str().unwrap()]))
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("node_idd"), "{unknown}");
    }
}
