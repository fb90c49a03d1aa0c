//! `<data_dir>/dev.json`: what must stay the same from one run of `edgectl
//! dev` to the next — the ports (Raft membership stores addresses) and the
//! keys (shown once by the cluster) — readable by the owner only.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use serde::Serialize;

use super::layout;

/// The file's name in the data directory.
pub(super) const FILE: &str = "dev.json";

/// Ports and keys of one dev cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct DevState {
    /// Control-plane node ports; index i is Raft id i + 1.
    pub(super) control_plane_ports: Vec<u16>,
    /// The gateway's port.
    pub(super) gateway_port: u16,
    /// Each worker node's port, by node id.
    pub(super) node_ports: BTreeMap<String, u16>,
    /// The admin tenant's key, once the cluster was initialised.
    pub(super) admin_key: Option<String>,
    /// The `dev` tenant's key, once it was created.
    pub(super) tenant_key: Option<String>,
}

impl DevState {
    /// Fresh ports for every process, distinct from each other: all are
    /// bound at once, then released.
    pub(super) fn with_free_ports() -> anyhow::Result<Self> {
        let nodes: Vec<&str> = layout::worker_nodes().map(|(_, node)| node).collect();
        let count = layout::CONTROL_PLANE_NODES as usize + 1 + nodes.len();
        let listeners = (0..count)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()
            .context("finding free ports on 127.0.0.1")?;
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<Result<Vec<_>, _>>()
            .context("reading a bound port")?;
        let (cp, rest) = ports.split_at(layout::CONTROL_PLANE_NODES as usize);
        Ok(DevState {
            control_plane_ports: cp.to_vec(),
            gateway_port: rest[0],
            node_ports: nodes
                .iter()
                .zip(&rest[1..])
                .map(|(node, port)| ((*node).to_owned(), *port))
                .collect(),
            admin_key: None,
            tenant_key: None,
        })
    }

    /// The state in `dir`, if the file exists.
    pub(super) fn load(dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let state: DevState = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a dev cluster's state", path.display()))?;
        state.check().with_context(|| {
            format!(
                "{} describes another cluster layout; remove {} to start afresh",
                path.display(),
                dir.display()
            )
        })?;
        Ok(Some(state))
    }

    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.control_plane_ports.len() == layout::CONTROL_PLANE_NODES as usize,
            "expected {} control-plane ports",
            layout::CONTROL_PLANE_NODES
        );
        for (_, node) in layout::worker_nodes() {
            anyhow::ensure!(self.node_ports.contains_key(node), "no port for {node}");
        }
        Ok(())
    }

    /// Writes the state to `dir` with mode 0600, replacing the old file at
    /// once (a crash leaves the old or the new one, never half).
    pub(super) fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).context("encoding the dev state")?;
        write_private(dir, FILE, &text)
    }
}

/// Writes `<dir>/env`, the shell lines that point the client commands at
/// this cluster as its tenant: `. .edge-dev/env` in another terminal.
pub(super) fn write_env(dir: &Path, gateway: &str, tenant_key: &str) -> anyhow::Result<()> {
    write_private(
        dir,
        ENV_FILE,
        &format!("export EDGE_GATEWAY={gateway}\nexport EDGE_API_KEY={tenant_key}\n"),
    )
}

/// Name of the file [`write_env`] writes.
pub(super) const ENV_FILE: &str = "env";

/// Replaces `<dir>/<name>` with `text`, mode 0600 (it holds keys), at once.
fn write_private(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    let temporary = dir.join(format!("{name}.tmp"));
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    // The mode above is filtered by the umask; 0600 is what we want.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("setting the mode of {}", temporary.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn ports_are_distinct_and_the_file_round_trips_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(DevState::load(dir.path()).unwrap(), None);
        let mut state = DevState::with_free_ports().unwrap();
        let mut ports: Vec<u16> = state.control_plane_ports.clone();
        ports.push(state.gateway_port);
        ports.extend(state.node_ports.values());
        let count = ports.len();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), count, "ports are distinct");
        assert_eq!(count, 8);
        state.admin_key = Some("secret".into());
        state.save(dir.path()).unwrap();
        state.save(dir.path()).unwrap();
        assert_eq!(DevState::load(dir.path()).unwrap(), Some(state));
        let mode = std::fs::metadata(dir.path().join(FILE)).unwrap().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_state_of_another_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = DevState::with_free_ports().unwrap();
        state.node_ports.remove("us-2");
        state.save(dir.path()).unwrap();
        let error = DevState::load(dir.path()).unwrap_err();
        assert!(format!("{error:#}").contains("us-2"), "{error:#}");
        std::fs::write(dir.path().join(FILE), "{").unwrap();
        assert!(DevState::load(dir.path()).is_err());
    }
}
