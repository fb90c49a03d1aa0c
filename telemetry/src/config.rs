//! Telemetry settings, and how they are read from the standard environment variables.

/// The log filter used when `RUST_LOG` is unset or empty.
const DEFAULT_FILTER: &str = "info";

/// What [`crate::init_with`] sets up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// The `service.name` resource attribute of exported spans, e.g. `gateway`.
    pub service_name: String,
    /// OTLP/gRPC collector endpoint, e.g. `http://127.0.0.1:4317`; `None` turns export off
    /// (spans still get ids, so trace context is still propagated).
    pub otlp_endpoint: Option<String>,
    /// `tracing_subscriber::EnvFilter` directives for logs and exported spans, e.g. `info,h2=warn`.
    pub filter: String,
}

impl TelemetryConfig {
    /// Logging at `info`, no span export.
    pub fn new(service_name: &str) -> Self {
        Self {
            service_name: service_name.to_owned(),
            otlp_endpoint: None,
            filter: DEFAULT_FILTER.to_owned(),
        }
    }

    /// Reads `RUST_LOG` and the OpenTelemetry variables `OTEL_SDK_DISABLED`,
    /// `OTEL_TRACES_EXPORTER`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`. Export is on only when an endpoint is set.
    pub fn from_env(service_name: &str) -> Self {
        from_lookup(service_name, |name| std::env::var(name).ok()).0
    }
}

/// Builds the config from a variable lookup and returns, beside it, warnings about
/// settings it cannot honour (logged once the subscriber is up).
pub(crate) fn from_lookup(
    service_name: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> (TelemetryConfig, Vec<String>) {
    // Empty values count as unset, as the OpenTelemetry spec asks.
    let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
    let mut warnings = Vec::new();
    let mut config = TelemetryConfig::new(service_name);
    if let Some(filter) = var("RUST_LOG") {
        config.filter = filter;
    }
    let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if disabled || !otlp_selected(var("OTEL_TRACES_EXPORTER"), &mut warnings) {
        return (config, warnings);
    }
    config.otlp_endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .map(|endpoint| endpoint.trim().to_owned());
    let protocol =
        var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"));
    if config.otlp_endpoint.is_some()
        && let Some(protocol) = protocol.filter(|p| p.trim() != "grpc")
    {
        warnings.push(format!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={protocol:?} is not supported; exporting spans over OTLP/gRPC"
        ));
    }
    (config, warnings)
}

/// Whether `OTEL_TRACES_EXPORTER` (a comma-separated list, default `otlp`) asks for OTLP.
fn otlp_selected(exporters: Option<String>, warnings: &mut Vec<String>) -> bool {
    let Some(exporters) = exporters else {
        return true;
    };
    let mut otlp = false;
    for name in exporters.split(',').map(str::trim) {
        match name {
            "otlp" => otlp = true,
            "none" => return false,
            other => warnings.push(format!(
                "OTEL_TRACES_EXPORTER value {other:?} is not supported; only \"otlp\" and \"none\" are"
            )),
        }
    }
    otlp
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> (TelemetryConfig, Vec<String>) {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        from_lookup("svc", |name| vars.get(name).cloned())
    }

    #[test]
    fn no_variables_means_info_logging_and_no_export() {
        let (config, warnings) = config(&[]);
        assert_eq!(config, TelemetryConfig::new("svc"));
        assert_eq!(config.filter, "info");
        assert!(warnings.is_empty());
    }

    #[test]
    fn rust_log_sets_the_filter() {
        let (config, _) = config(&[("RUST_LOG", "debug,h2=warn")]);
        assert_eq!(config.filter, "debug,h2=warn");
    }

    #[test]
    fn generic_endpoint_turns_export_on() {
        let (config, warnings) =
            config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")]);
        assert_eq!(
            config.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4317")
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn traces_endpoint_wins_over_generic_endpoint() {
        let (config, _) = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:2"),
        ]);
        assert_eq!(config.otlp_endpoint.as_deref(), Some("http://127.0.0.1:2"));
    }

    #[test]
    fn sdk_disabled_turns_export_off() {
        let (config, _) = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ]);
        assert_eq!(config.otlp_endpoint, None);
    }

    #[test]
    fn sdk_disabled_false_keeps_export_on() {
        let (config, _) = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_SDK_DISABLED", "false"),
        ]);
        assert!(config.otlp_endpoint.is_some());
    }

    #[test]
    fn traces_exporter_none_turns_export_off() {
        let (config, _) = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ]);
        assert_eq!(config.otlp_endpoint, None);
    }

    #[test]
    fn unsupported_exporter_warns_and_keeps_otlp_when_listed() {
        let (config, warnings) = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_TRACES_EXPORTER", "console, otlp"),
        ]);
        assert!(config.otlp_endpoint.is_some());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("console"), "{warnings:?}");
    }

    #[test]
    fn only_unsupported_exporters_turn_export_off() {
        let (config, warnings) = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_TRACES_EXPORTER", "zipkin"),
        ]);
        assert_eq!(config.otlp_endpoint, None);
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn http_protocol_warns() {
        let (config, warnings) = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ]);
        assert!(config.otlp_endpoint.is_some());
        assert!(warnings[0].contains("http/protobuf"), "{warnings:?}");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let (config, _) = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " "), ("RUST_LOG", "")]);
        assert_eq!(config, TelemetryConfig::new("svc"));
    }
}
