//! The connection to a gateway and the metadata every call carries: the API
//! key, the client's location, and whether a retry is safe; and reading who
//! served a call from the response metadata.

use std::time::Duration;

use edge_proto::v1::gateway_client::GatewayClient;
use tonic::metadata::AsciiMetadataValue;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;

use super::GatewayArgs;
use super::failure::Failure;

/// Longest wait for the TCP connection to the gateway.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer accepted: outputs are at most tens of MiB, billing exports larger.
const MAX_DECODING_BYTES: usize = 512 * 1024 * 1024;

/// A connected gateway client and the metadata for each request.
pub(crate) struct Gateway {
    client: GatewayClient<Channel>,
    metadata: MetadataMap,
}

impl Gateway {
    /// Connects to `--gateway` with the metadata the flags ask for.
    pub(crate) async fn connect(args: &GatewayArgs) -> Result<Self, Failure> {
        let metadata = call_metadata(args)?;
        let addr = args.gateway.as_deref().ok_or_else(|| {
            Failure::Usage("no gateway: pass --gateway HOST:PORT or set EDGE_GATEWAY".into())
        })?;
        let channel = connect_channel(addr).await?;
        let client = GatewayClient::new(channel).max_decoding_message_size(MAX_DECODING_BYTES);
        Ok(Gateway { client, metadata })
    }

    /// `message` with this client's metadata.
    pub(crate) fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = self.metadata.clone();
        request
    }

    /// The gRPC client.
    pub(crate) fn client(&mut self) -> &mut GatewayClient<Channel> {
        &mut self.client
    }
}

/// Connects to `addr` (host:port or a URL).
pub(crate) async fn connect_channel(addr: &str) -> Result<Channel, Failure> {
    let url = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|_| Failure::Usage(format!("--gateway {addr:?}: expected HOST:PORT")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .connect()
        .await
        .map_err(|e| Failure::Unreachable(format!("cannot reach the gateway at {url}: {e}")))
}

/// `authorization` and the location hint (`x-edge-lat`/`x-edge-lon` when
/// given, else `x-edge-region` when given).
pub(crate) fn call_metadata(args: &GatewayArgs) -> Result<MetadataMap, Failure> {
    let mut metadata = MetadataMap::new();
    let key = args.api_key.as_deref().ok_or_else(|| {
        Failure::Usage("no API key: pass --api-key KEY or set EDGE_API_KEY".into())
    })?;
    metadata.insert(
        "authorization",
        ascii("--api-key", &format!("Bearer {key}"))?,
    );
    match (args.lat, args.lon, &args.region) {
        (Some(lat), Some(lon), _) => {
            metadata.insert("x-edge-lat", ascii("--lat", &lat.to_string())?);
            metadata.insert("x-edge-lon", ascii("--lon", &lon.to_string())?);
        }
        (None, None, Some(region)) => {
            metadata.insert("x-edge-region", ascii("--region", region)?);
        }
        (None, None, None) => {}
        _ => return Err(Failure::Usage("--lat and --lon go together".into())),
    }
    Ok(metadata)
}

/// Marks a request as safe to retry on another node.
pub(crate) fn mark_idempotent<T>(request: &mut tonic::Request<T>) {
    request
        .metadata_mut()
        .insert("x-edge-idempotent", AsciiMetadataValue::from_static("true"));
}

/// A metadata value: printable ASCII only (HTTP/2 would pass other bytes
/// on as they are, which the gateway cannot read as text).
fn ascii(flag: &str, value: &str) -> Result<AsciiMetadataValue, Failure> {
    let refuse = || {
        Failure::Usage(format!(
            "{flag}: only printable ASCII characters can travel in gRPC metadata"
        ))
    };
    if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(refuse());
    }
    value.parse().map_err(|_| refuse())
}

/// The region and node that served a call, from response metadata (empty
/// strings when absent).
pub(crate) fn served_by(metadata: &MetadataMap) -> (String, String) {
    let get = |key: &str| {
        metadata
            .get(key)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    (get("x-edge-region"), get("x-edge-node"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(region: Option<&str>, lat: Option<f64>, lon: Option<f64>) -> GatewayArgs {
        GatewayArgs {
            gateway: Some("127.0.0.1:1".into()),
            api_key: Some("k1".into()),
            region: region.map(str::to_owned),
            lat,
            lon,
        }
    }

    #[test]
    fn metadata_carries_the_key_and_the_location() {
        let md = call_metadata(&args(Some("us"), None, None)).unwrap();
        assert_eq!(md.get("authorization").unwrap(), "Bearer k1");
        assert_eq!(md.get("x-edge-region").unwrap(), "us");
        assert!(md.get("x-edge-lat").is_none());

        let md = call_metadata(&args(Some("us"), Some(50.11), Some(-77.45))).unwrap();
        assert_eq!(md.get("x-edge-lat").unwrap(), "50.11");
        assert_eq!(md.get("x-edge-lon").unwrap(), "-77.45");
        assert!(md.get("x-edge-region").is_none(), "coordinates win");
    }

    #[test]
    fn bad_metadata_is_a_usage_error() {
        let missing_key = GatewayArgs {
            api_key: None,
            ..args(None, None, None)
        };
        assert!(
            matches!(call_metadata(&missing_key), Err(Failure::Usage(m)) if m.contains("EDGE_API_KEY"))
        );
        assert!(matches!(
            call_metadata(&args(Some("é"), None, None)),
            Err(Failure::Usage(_))
        ));
        assert!(matches!(
            call_metadata(&args(None, Some(1.0), None)),
            Err(Failure::Usage(_))
        ));
        let newline_key = GatewayArgs {
            api_key: Some("a\nb".into()),
            ..args(None, None, None)
        };
        assert!(matches!(
            call_metadata(&newline_key),
            Err(Failure::Usage(_))
        ));
    }

    #[test]
    fn served_by_reads_region_and_node() {
        let mut md = MetadataMap::new();
        md.insert("x-edge-region", "eu".parse().unwrap());
        md.insert("x-edge-node", "eu-2".parse().unwrap());
        assert_eq!(served_by(&md), ("eu".to_owned(), "eu-2".to_owned()));
        assert_eq!(
            served_by(&MetadataMap::new()),
            (String::new(), String::new())
        );
    }
}
