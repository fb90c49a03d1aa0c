//! Settings: flags over the TOML file over defaults, and clear refusals.

use std::net::IpAddr;
use std::time::Duration;

use clap::Parser;
use gateway::Cli;
use gateway::Config;
use gateway::ConfigError;

fn write(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, text).expect("write config");
    path.to_string_lossy().into_owned()
}

const FILE: &str = r#"
listen = "127.0.0.1:0"
control_plane = ["127.0.0.1:7001", "127.0.0.1:7002"]
region = "eu"
latitude = 50.11
longitude = 8.68
max_concurrency = 7
tenant_rps = 5

[cidr_regions]
"10.0.0.0/8" = "us"
"#;

#[test]
fn flags_win_over_the_file_and_the_file_over_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, FILE);
    let cli =
        Cli::try_parse_from(["gateway", "--config", &path, "--max-concurrency", "9"]).unwrap();
    let config = Config::load(cli).expect("valid config");
    assert_eq!(config.max_concurrency, 9);
    assert_eq!(config.tenant_rps, 5);
    assert_eq!(config.tenant_burst, gateway::config::DEFAULT_TENANT_BURST);
    assert_eq!(config.default_timeout, Duration::from_secs(30));
    assert_eq!(config.control_plane.len(), 2);
    assert_eq!(config.region, "eu");
    let ip: IpAddr = "10.9.8.7".parse().unwrap();
    assert_eq!(config.cidr_regions.region_of(ip), Some("us"));

    let cli = Cli::try_parse_from([
        "gateway",
        "--config",
        &path,
        "--cidr-region",
        "192.168.0.0/16=ap",
        "--longitude",
        "-77.45",
    ])
    .unwrap();
    let config = Config::load(cli).unwrap();
    assert_eq!(config.location.longitude(), -77.45);
    assert_eq!(
        config.cidr_regions.region_of(ip),
        None,
        "flags replace the file's table"
    );
    assert_eq!(
        config
            .cidr_regions
            .region_of("192.168.1.1".parse().unwrap()),
        Some("ap")
    );
}

#[test]
fn bad_settings_are_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::try_parse_from(["gateway", "--listen", "127.0.0.1:0"]).unwrap();
    let err = Config::load(cli).unwrap_err();
    assert!(
        matches!(err, ConfigError::Missing("control_plane")),
        "{err}"
    );
    assert!(err.to_string().contains("--control-plane"));

    let path = write(&dir, &FILE.replace("latitude = 50.11", "latitude = 95.0"));
    let err =
        Config::load(Cli::try_parse_from(["gateway", "--config", &path]).unwrap()).unwrap_err();
    assert!(err.to_string().contains("latitude"), "{err}");

    let path = write(&dir, &FILE.replace("tenant_rps = 5", "tenant_rps = 0"));
    let err =
        Config::load(Cli::try_parse_from(["gateway", "--config", &path]).unwrap()).unwrap_err();
    assert!(err.to_string().contains("tenant_rps"), "{err}");

    let path = write(&dir, &format!("{FILE}\nunknown_key = 1\n"));
    let err =
        Config::load(Cli::try_parse_from(["gateway", "--config", &path]).unwrap()).unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }), "{err}");

    let path = write(&dir, FILE);
    let cli =
        Cli::try_parse_from(["gateway", "--config", &path, "--cidr-region", "10.0.0.0/8"]).unwrap();
    let err = Config::load(cli).unwrap_err();
    assert!(err.to_string().contains("CIDR=REGION"), "{err}");
}
