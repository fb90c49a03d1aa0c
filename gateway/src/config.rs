//! The gateway's settings: command line flags (each also an `EDGE_*`
//! variable), an optional TOML file whose keys are the flag names with `_`,
//! and defaults. A flag or variable wins over the file, the file over the
//! default.

use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::geo::Cidr;
use crate::geo::CidrTable;
use crate::geo::Coordinates;
use crate::geo::valid_region_name;

/// Default global cap on requests being handled at once.
pub const DEFAULT_MAX_CONCURRENCY: usize = 256;
/// Default sustained requests per second per tenant.
pub const DEFAULT_TENANT_RPS: u32 = 1000;
/// Default token-bucket size per tenant.
pub const DEFAULT_TENANT_BURST: u32 = 2000;
/// Default cap on one tenant's requests in flight.
pub const DEFAULT_TENANT_IN_FLIGHT: u32 = 64;
/// Deadline of a request that carries no `grpc-timeout`.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Largest gRPC message accepted or sent (8 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// How long an Authenticate answer (and a resolved Worker) is reused.
pub const DEFAULT_KEY_CACHE_TTL_MS: u64 = 2_000;
/// How often the node view is refreshed from the control plane.
pub const DEFAULT_NODE_REFRESH_MS: u64 = 500;
/// Extra attempts on other nodes after the first one.
pub const DEFAULT_RETRY_BUDGET: u32 = 3;

/// Command line of the `gateway` binary. Every flag is optional here
/// because the TOML file may supply it; [`Config::resolve`] checks the rest.
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(
    name = "gateway",
    about = "The gRPC front door of the edge isolate platform (edge.v1.Gateway)"
)]
pub struct Cli {
    /// TOML file with the same settings (keys are the flag names with `_`).
    #[arg(long, env = "EDGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, host:port (port 0 picks a free one).
    #[arg(long, env = "EDGE_LISTEN")]
    pub listen: Option<String>,
    /// Control-plane addresses, host:port, comma separated or repeated.
    #[arg(long, env = "EDGE_CONTROL_PLANE", value_delimiter = ',')]
    pub control_plane: Vec<String>,
    /// The gateway's own region (clients with no location hint start here).
    #[arg(long, env = "EDGE_REGION")]
    pub region: Option<String>,
    /// Latitude of the gateway's region, degrees.
    #[arg(long, env = "EDGE_LATITUDE", allow_negative_numbers = true)]
    pub latitude: Option<f64>,
    /// Longitude of the gateway's region, degrees.
    #[arg(long, env = "EDGE_LONGITUDE", allow_negative_numbers = true)]
    pub longitude: Option<f64>,
    /// CIDR=REGION: clients from this network are in that region (repeatable).
    #[arg(long = "cidr-region", env = "EDGE_CIDR_REGION", value_delimiter = ',')]
    pub cidr_region: Vec<String>,
    /// Requests handled at once; more are refused with RESOURCE_EXHAUSTED.
    #[arg(long, env = "EDGE_MAX_CONCURRENCY")]
    pub max_concurrency: Option<usize>,
    /// Sustained requests per second per tenant.
    #[arg(long, env = "EDGE_TENANT_RPS")]
    pub tenant_rps: Option<u32>,
    /// Burst size of a tenant's token bucket.
    #[arg(long, env = "EDGE_TENANT_BURST")]
    pub tenant_burst: Option<u32>,
    /// Requests of one tenant in flight at once.
    #[arg(long, env = "EDGE_TENANT_IN_FLIGHT")]
    pub tenant_in_flight: Option<u32>,
    /// Deadline of a request without `grpc-timeout`, milliseconds.
    #[arg(long, env = "EDGE_DEFAULT_TIMEOUT_MS")]
    pub default_timeout_ms: Option<u64>,
    /// Largest gRPC message in either direction, bytes.
    #[arg(long, env = "EDGE_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// How long API-key and Worker look-ups are cached, milliseconds.
    #[arg(long, env = "EDGE_KEY_CACHE_TTL_MS")]
    pub key_cache_ttl_ms: Option<u64>,
    /// How often the node list is refreshed, milliseconds.
    #[arg(long, env = "EDGE_NODE_REFRESH_MS")]
    pub node_refresh_ms: Option<u64>,
    /// Extra attempts on other nodes when a request may be retried.
    #[arg(long, env = "EDGE_RETRY_BUDGET")]
    pub retry_budget: Option<u32>,
}

/// The TOML file: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    control_plane: Option<Vec<String>>,
    region: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    cidr_regions: Option<BTreeMap<String, String>>,
    max_concurrency: Option<usize>,
    tenant_rps: Option<u32>,
    tenant_burst: Option<u32>,
    tenant_in_flight: Option<u32>,
    default_timeout_ms: Option<u64>,
    max_message_bytes: Option<usize>,
    key_cache_ttl_ms: Option<u64>,
    node_refresh_ms: Option<u64>,
    retry_budget: Option<u32>,
}

/// What is wrong with the settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("reading config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML file is not valid.
    #[error("parsing config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<toml::de::Error>,
    },
    /// A required setting is in neither the flags nor the file.
    #[error("missing setting {0}: pass --{flag} or set it in the config file", flag = .0.replace('_', "-"))]
    Missing(&'static str),
    /// A setting has a value that cannot work.
    #[error("invalid {name}: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// The gateway's resolved settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Control-plane addresses (any of them serves every call).
    pub control_plane: Vec<String>,
    /// The gateway's own region.
    pub region: String,
    /// Where that region is.
    pub location: Coordinates,
    /// Client network → region.
    pub cidr_regions: CidrTable,
    /// Requests handled at once.
    pub max_concurrency: usize,
    /// Sustained requests per second per tenant.
    pub tenant_rps: u32,
    /// Token-bucket size per tenant.
    pub tenant_burst: u32,
    /// Requests of one tenant in flight.
    pub tenant_in_flight: u32,
    /// Deadline without `grpc-timeout`.
    pub default_timeout: Duration,
    /// Largest gRPC message.
    pub max_message_bytes: usize,
    /// API-key and Worker cache lifetime.
    pub key_cache_ttl: Duration,
    /// Node list refresh interval.
    pub node_refresh: Duration,
    /// Extra attempts on other nodes.
    pub retry_budget: u32,
}

impl Config {
    /// Settings with every default, for the given required ones.
    pub fn new(
        listen: impl Into<String>,
        control_plane: Vec<String>,
        region: impl Into<String>,
        location: Coordinates,
    ) -> Self {
        Self {
            listen: listen.into(),
            control_plane,
            region: region.into(),
            location,
            cidr_regions: CidrTable::default(),
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            tenant_rps: DEFAULT_TENANT_RPS,
            tenant_burst: DEFAULT_TENANT_BURST,
            tenant_in_flight: DEFAULT_TENANT_IN_FLIGHT,
            default_timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            key_cache_ttl: Duration::from_millis(DEFAULT_KEY_CACHE_TTL_MS),
            node_refresh: Duration::from_millis(DEFAULT_NODE_REFRESH_MS),
            retry_budget: DEFAULT_RETRY_BUDGET,
        }
    }

    /// Reads the file named by `--config` (if any) and merges it under the flags.
    pub fn load(cli: Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Self::resolve(cli, file)
    }

    fn resolve(cli: Cli, file: FileConfig) -> Result<Self, ConfigError> {
        let listen = cli
            .listen
            .or(file.listen)
            .ok_or(ConfigError::Missing("listen"))?;
        let control_plane = if cli.control_plane.is_empty() {
            file.control_plane.unwrap_or_default()
        } else {
            cli.control_plane
        };
        let control_plane: Vec<String> = control_plane
            .into_iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        if control_plane.is_empty() {
            return Err(ConfigError::Missing("control_plane"));
        }
        let region = cli
            .region
            .or(file.region)
            .ok_or(ConfigError::Missing("region"))?;
        if !valid_region_name(&region) {
            return Err(invalid(
                "region",
                format!("{region:?} is not 1-64 characters of [A-Za-z0-9._-]"),
            ));
        }
        let latitude = cli
            .latitude
            .or(file.latitude)
            .ok_or(ConfigError::Missing("latitude"))?;
        let longitude = cli
            .longitude
            .or(file.longitude)
            .ok_or(ConfigError::Missing("longitude"))?;
        let location = Coordinates::new(latitude, longitude)
            .map_err(|e| invalid("latitude/longitude", e.to_string()))?;
        let cidr_regions = if cli.cidr_region.is_empty() {
            cidr_table(file.cidr_regions.unwrap_or_default())?
        } else {
            cidr_table(split_pairs(&cli.cidr_region)?)?
        };
        let mut config = Self::new(listen, control_plane, region, location);
        config.cidr_regions = cidr_regions;
        if let Some(v) = cli.max_concurrency.or(file.max_concurrency) {
            config.max_concurrency = positive("max_concurrency", v)?;
        }
        if let Some(v) = cli.tenant_rps.or(file.tenant_rps) {
            config.tenant_rps = positive("tenant_rps", v)?;
        }
        if let Some(v) = cli.tenant_burst.or(file.tenant_burst) {
            config.tenant_burst = positive("tenant_burst", v)?;
        }
        if let Some(v) = cli.tenant_in_flight.or(file.tenant_in_flight) {
            config.tenant_in_flight = positive("tenant_in_flight", v)?;
        }
        if let Some(v) = cli.default_timeout_ms.or(file.default_timeout_ms) {
            config.default_timeout = Duration::from_millis(positive("default_timeout_ms", v)?);
        }
        if let Some(v) = cli.max_message_bytes.or(file.max_message_bytes) {
            config.max_message_bytes = positive("max_message_bytes", v)?;
        }
        if let Some(v) = cli.key_cache_ttl_ms.or(file.key_cache_ttl_ms) {
            config.key_cache_ttl = Duration::from_millis(v);
        }
        if let Some(v) = cli.node_refresh_ms.or(file.node_refresh_ms) {
            config.node_refresh = Duration::from_millis(positive("node_refresh_ms", v)?);
        }
        if let Some(v) = cli.retry_budget.or(file.retry_budget) {
            config.retry_budget = v;
        }
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

fn invalid(name: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid { name, reason }
}

fn positive<T: PartialEq + Default>(name: &'static str, v: T) -> Result<T, ConfigError> {
    if v == T::default() {
        return Err(invalid(name, "must be greater than 0".into()));
    }
    Ok(v)
}

fn split_pairs(items: &[String]) -> Result<BTreeMap<String, String>, ConfigError> {
    items
        .iter()
        .map(|item| {
            let (cidr, region) = item.split_once('=').ok_or_else(|| {
                invalid(
                    "cidr_region",
                    format!("{item:?} is not CIDR=REGION, e.g. 10.0.0.0/8=eu"),
                )
            })?;
            Ok((cidr.trim().to_string(), region.trim().to_string()))
        })
        .collect()
}

fn cidr_table(pairs: BTreeMap<String, String>) -> Result<CidrTable, ConfigError> {
    let mut entries = Vec::with_capacity(pairs.len());
    for (cidr, region) in pairs {
        let net: Cidr = cidr
            .parse()
            .map_err(|e: crate::geo::CidrError| invalid("cidr_region", e.to_string()))?;
        if !valid_region_name(&region) {
            return Err(invalid(
                "cidr_region",
                format!("region {region:?} for {cidr} is not 1-64 characters of [A-Za-z0-9._-]"),
            ));
        }
        entries.push((net, region));
    }
    Ok(CidrTable::new(entries))
}
