//! The fixed shape of the dev cluster — three control-plane nodes, two
//! regions with two worker nodes each, one gateway — and where its files
//! and binaries are.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;

/// A region of the dev cluster.
pub(super) struct Region {
    /// Its name, as clients tag requests with it.
    pub(super) name: &'static str,
    /// Degrees north.
    pub(super) latitude: f64,
    /// Degrees east.
    pub(super) longitude: f64,
    /// Its worker nodes' ids.
    pub(super) nodes: [&'static str; 2],
}

/// Frankfurt and northern Virginia.
pub(super) const REGIONS: [Region; 2] = [
    Region {
        name: "eu",
        latitude: 50.11,
        longitude: 8.68,
        nodes: ["eu-1", "eu-2"],
    },
    Region {
        name: "us",
        latitude: 38.95,
        longitude: -77.45,
        nodes: ["us-1", "us-2"],
    },
];

/// Control-plane nodes, Raft ids 1..=this.
pub(super) const CONTROL_PLANE_NODES: u64 = 3;
/// The gateway's region (the first).
pub(super) const GATEWAY_REGION: &Region = &REGIONS[0];
/// The tenant created for the user.
pub(super) const TENANT: &str = "dev";

/// Every worker node id with its region, in order.
pub(super) fn worker_nodes() -> impl Iterator<Item = (&'static Region, &'static str)> {
    REGIONS
        .iter()
        .flat_map(|region| region.nodes.iter().map(move |node| (region, *node)))
}

/// The name of control-plane node `id` (its log and data directory).
pub(super) fn control_plane_name(id: u64) -> String {
    format!("cp-{id}")
}

/// `<data_dir>/<name>.log`, where a child's stderr goes.
pub(super) fn log_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(format!("{name}.log"))
}

/// `<data_dir>/<node>/worker-node.toml`.
pub(super) fn worker_config_path(data_dir: &Path, node_id: &str) -> PathBuf {
    data_dir.join(node_id).join("worker-node.toml")
}

/// The TOML a worker node is started with (keys are its flag names).
pub(super) fn worker_config(
    region: &Region,
    node_id: &str,
    listen: &str,
    control_plane: &[String],
    data_dir: &Path,
) -> String {
    let mut table = toml::Table::new();
    table.insert("node_id".into(), node_id.into());
    table.insert("region".into(), region.name.into());
    table.insert("latitude".into(), region.latitude.into());
    table.insert("longitude".into(), region.longitude.into());
    table.insert("listen".into(), listen.into());
    table.insert(
        "control_plane".into(),
        toml::Value::Array(control_plane.iter().map(|a| a.as_str().into()).collect()),
    );
    table.insert(
        "data_dir".into(),
        data_dir.join(node_id).to_string_lossy().into_owned().into(),
    );
    format!(
        "# Written by `edgectl dev`; rewritten on every start.\n{}",
        toml::to_string(&table).unwrap_or_default()
    )
}

/// A binary of the platform: next to the running `edgectl` (the same build),
/// else on `PATH`.
pub(super) fn find_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().ok();
    let exe_dir = exe.as_deref().and_then(Path::parent);
    let path = std::env::var_os("PATH");
    locate(name, exe_dir, path.as_deref()).ok_or_else(|| {
        anyhow::anyhow!(
            "cannot find the `{name}` binary next to {} or on PATH; build it with \
             `cargo build -p {name}` (the same profile as edgectl)",
            exe_dir.map_or_else(|| "edgectl".into(), |d| d.display().to_string())
        )
    })
}

fn locate(name: &str, exe_dir: Option<&Path>, path: Option<&OsStr>) -> Option<PathBuf> {
    let path_dirs = path.map(std::env::split_paths).into_iter().flatten();
    exe_dir
        .map(Path::to_path_buf)
        .into_iter()
        .chain(path_dirs)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_config_is_toml_with_the_flag_names() {
        let text = worker_config(
            &REGIONS[1],
            "us-2",
            "127.0.0.1:7002",
            &["127.0.0.1:1".into(), "127.0.0.1:2".into()],
            Path::new("/tmp/dev \"x\""),
        );
        let table: toml::Table = toml::from_str(&text).expect("valid TOML");
        assert_eq!(table["node_id"].as_str(), Some("us-2"));
        assert_eq!(table["region"].as_str(), Some("us"));
        assert_eq!(table["longitude"].as_float(), Some(-77.45));
        assert_eq!(table["listen"].as_str(), Some("127.0.0.1:7002"));
        assert_eq!(table["control_plane"].as_array().map(Vec::len), Some(2));
        assert_eq!(table["data_dir"].as_str(), Some("/tmp/dev \"x\"/us-2"));
    }

    #[test]
    fn binaries_are_found_next_to_edgectl_first_then_on_path() {
        let exe_dir = tempfile::tempdir().unwrap();
        let path_dir = tempfile::tempdir().unwrap();
        let make = |dir: &Path, mode: u32| {
            let file = dir.join("gateway");
            std::fs::write(&file, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            file
        };
        let on_path = make(path_dir.path(), 0o755);
        let path_var = path_dir.path().as_os_str();
        assert_eq!(
            locate("gateway", Some(exe_dir.path()), Some(path_var)),
            Some(on_path)
        );
        let beside = make(exe_dir.path(), 0o755);
        assert_eq!(
            locate("gateway", Some(exe_dir.path()), Some(path_var)),
            Some(beside.clone())
        );
        // Not executable: skipped.
        std::fs::set_permissions(&beside, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_ne!(
            locate("gateway", Some(exe_dir.path()), Some(path_var)),
            Some(beside)
        );
        assert_eq!(locate("no-such-binary", Some(exe_dir.path()), None), None);
    }

    #[test]
    fn the_layout_has_two_regions_of_two_nodes() {
        let nodes: Vec<_> = worker_nodes().map(|(r, n)| (r.name, n)).collect();
        assert_eq!(
            nodes,
            [
                ("eu", "eu-1"),
                ("eu", "eu-2"),
                ("us", "us-1"),
                ("us", "us-2")
            ]
        );
        assert_eq!(GATEWAY_REGION.name, "eu");
    }
}
