//! gRPC deadlines as they travel between our services: the `grpc-timeout`
//! metadata every hop reads to know how long its caller still waits.

use std::time::Duration;

/// The metadata key gRPC carries a call's deadline in.
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// A `grpc-timeout` value that is not gRPC's form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("grpc-timeout {0:?} is not 1 to 8 digits followed by a unit (H, M, S, m, u or n)")]
pub struct MalformedTimeout(pub String);

/// Parses a `grpc-timeout` value: 1 to 8 ASCII digits and a unit.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 || !value.is_ascii() {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The time the caller gives the call: `None` when it set no deadline.
///
/// # Errors
///
/// A `grpc-timeout` that is present but malformed.
pub fn grpc_timeout(
    metadata: &tonic::metadata::MetadataMap,
) -> Result<Option<Duration>, MalformedTimeout> {
    let Some(value) = metadata.get(GRPC_TIMEOUT) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| MalformedTimeout(String::from_utf8_lossy(value.as_bytes()).into_owned()))?;
    parse_grpc_timeout(text)
        .map(Some)
        .ok_or_else(|| MalformedTimeout(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_and_malformed_values() {
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout("0n"), Some(Duration::ZERO));
        assert_eq!(
            parse_grpc_timeout("99999999H"),
            Some(Duration::from_secs(99_999_999 * 3600))
        );
        for bad in [
            "",
            "m",
            "123456789m",
            "12x",
            "-1S",
            "1.5S",
            "5é",
            "é5m",
            " 5m",
        ] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn from_metadata() {
        let mut metadata = tonic::metadata::MetadataMap::new();
        assert_eq!(grpc_timeout(&metadata), Ok(None));
        metadata.insert(GRPC_TIMEOUT, "99m".parse().unwrap());
        assert_eq!(grpc_timeout(&metadata), Ok(Some(Duration::from_millis(99))));
        metadata.insert(GRPC_TIMEOUT, "soon".parse().unwrap());
        let error = grpc_timeout(&metadata).unwrap_err();
        assert!(error.to_string().contains("soon"), "{error}");
    }
}
