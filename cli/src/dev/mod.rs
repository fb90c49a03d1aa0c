//! `edgectl dev`: a whole local cluster from one command, as real
//! processes — three control-plane nodes, worker nodes in two regions (`eu`,
//! `us`), one gateway — with its data under `--data-dir`. Prints one JSON
//! line saying how to reach it, then runs until SIGINT or SIGTERM and stops
//! the gateway, the worker nodes, then the control plane. Run again on the
//! same data directory, it restarts the same cluster: same ports, same keys,
//! Workers and billing intact.
//!
//! - `layout`: the cluster's shape, files and binaries.
//! - `state`: `dev.json`, the ports and keys kept between runs.
//! - `child`: starting, watching and stopping the processes.
//! - `setup`: forming the Raft cluster, waiting for health, the tenant.

mod child;
mod layout;
mod setup;
mod state;

use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use serde_json::json;
use tokio::signal::unix::Signal;
use tokio::signal::unix::SignalKind;
use tokio::signal::unix::signal;
use tokio::sync::mpsc;

use self::child::Child;
use self::child::Death;
use self::layout::REGIONS;
use self::state::DevState;

/// How long a control-plane node gets to listen.
const CONTROL_PLANE_READY: Duration = Duration::from_secs(30);
/// How long a worker node gets to listen and register (it loads V8 first).
const NODE_READY: Duration = Duration::from_secs(120);
/// How long the gateway gets to listen.
const GATEWAY_READY: Duration = Duration::from_secs(60);
/// The gateway's node-view refresh period, passed to it: after the nodes
/// are healthy, two of these and the gateway routes to all of them.
const GATEWAY_NODE_REFRESH: Duration = Duration::from_millis(500);
/// Seconds without a heartbeat before the control plane calls a node
/// unhealthy: short, so a killed node is noticed quickly on a laptop.
const NODE_HEARTBEAT_TIMEOUT_SECS: u64 = 3;
/// Time the gateway gets to finish in-flight calls after SIGTERM.
const GATEWAY_GRACE: Duration = Duration::from_secs(15);
/// Time the worker nodes get to drain (their drain timeout is 10 s).
const NODE_GRACE: Duration = Duration::from_secs(20);
/// Time the control-plane nodes get to stop.
const CONTROL_PLANE_GRACE: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug)]
pub struct DevArgs {
    /// Where the cluster keeps its data, logs and dev.json (ports and keys).
    #[arg(long, default_value = ".edge-dev")]
    data_dir: PathBuf,
}

pub fn run(args: DevArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("edgectl dev: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dev(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("edgectl dev: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The processes, by the order they are stopped in.
#[derive(Default)]
struct Fleet {
    gateway: Option<Child>,
    nodes: Vec<Child>,
    control_plane: Vec<Child>,
}

impl Fleet {
    /// Gateway first (no new calls), then the worker nodes (they drain and
    /// ship their billing to the control plane), then the control plane.
    async fn stop(&mut self) {
        if let Some(gateway) = &mut self.gateway {
            child::stop(&mut [gateway], GATEWAY_GRACE).await;
        }
        child::stop(&mut self.nodes.iter_mut().collect::<Vec<_>>(), NODE_GRACE).await;
        child::stop(
            &mut self.control_plane.iter_mut().collect::<Vec<_>>(),
            CONTROL_PLANE_GRACE,
        )
        .await;
    }
}

/// SIGINT and SIGTERM, listened to from the start.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<Self> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// The binaries, found before anything starts.
struct Binaries {
    control_plane: PathBuf,
    worker_node: PathBuf,
    gateway: PathBuf,
}

async fn dev(args: DevArgs) -> anyhow::Result<ExitCode> {
    let mut signals = StopSignals::install()?;
    let binaries = Binaries {
        control_plane: layout::find_binary("control-plane")?,
        worker_node: layout::find_binary("worker-node")?,
        gateway: layout::find_binary("gateway")?,
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&args.data_dir)
        .with_context(|| format!("resolving {}", args.data_dir.display()))?;
    let mut state = load_or_create_state(&data_dir)?;
    check_ports_free(&state, &data_dir)?;

    let (deaths_tx, mut deaths) = mpsc::unbounded_channel();
    let mut fleet = Fleet::default();
    let started = tokio::select! {
        started = start(&mut fleet, &mut state, &data_dir, &binaries, &deaths_tx) => started,
        Some(death) = deaths.recv() => Err(anyhow::anyhow!("{}", death.describe("during start-up"))),
        name = signals.next() => {
            eprintln!("edgectl dev: {name} during start-up; stopping");
            fleet.stop().await;
            return Ok(ExitCode::SUCCESS);
        }
    };
    let summary = match started {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("edgectl dev: {e:#}");
            fleet.stop().await;
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("{summary}");
    eprintln!("edgectl dev: running; Ctrl-C (or SIGTERM) stops the cluster");
    // Ends on a signal; each child can die only once, so this turns at most
    // once per child before that.
    loop {
        tokio::select! {
            Some(death) = deaths.recv() => report_death(&death),
            name = signals.next() => {
                eprintln!("edgectl dev: {name}; stopping the gateway, the worker nodes, then the control plane");
                break;
            }
        }
    }
    fleet.stop().await;
    eprintln!("edgectl dev: stopped");
    Ok(ExitCode::SUCCESS)
}

fn report_death(death: &Death) {
    eprintln!("edgectl dev: {}", death.describe("while running"));
}

/// The state of an earlier run, or fresh ports saved for the next.
fn load_or_create_state(data_dir: &Path) -> anyhow::Result<DevState> {
    if let Some(state) = DevState::load(data_dir)? {
        return Ok(state);
    }
    let first_cp = data_dir.join(layout::control_plane_name(1));
    anyhow::ensure!(
        !first_cp.exists(),
        "{} holds a cluster but no {}; remove {} to start afresh",
        data_dir.display(),
        state::FILE,
        data_dir.display()
    );
    let state = DevState::with_free_ports()?;
    state.save(data_dir)?;
    Ok(state)
}

/// Fails early, and clearly, when a port of the cluster is taken.
fn check_ports_free(state: &DevState, data_dir: &Path) -> anyhow::Result<()> {
    let cp = state
        .control_plane_ports
        .iter()
        .enumerate()
        .map(|(i, port)| (layout::control_plane_name(i as u64 + 1), *port));
    let nodes = state.node_ports.iter().map(|(n, p)| (n.clone(), *p));
    for (name, port) in cp
        .chain(nodes)
        .chain([("gateway".to_owned(), state.gateway_port)])
    {
        std::net::TcpListener::bind(("127.0.0.1", port)).with_context(|| {
            format!(
                "port {port} of {name} is taken: is `edgectl dev` already running on {}?",
                data_dir.display()
            )
        })?;
    }
    Ok(())
}

fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// Starts everything and returns the line to print.
async fn start(
    fleet: &mut Fleet,
    state: &mut DevState,
    data_dir: &Path,
    binaries: &Binaries,
    deaths: &mpsc::UnboundedSender<Death>,
) -> anyhow::Result<Value> {
    let control_plane: Vec<String> = state.control_plane_ports.iter().map(|p| addr(*p)).collect();
    eprintln!(
        "edgectl dev: starting the control plane ({})",
        control_plane.join(", ")
    );
    for (index, listen) in control_plane.iter().enumerate() {
        let id = index as u64 + 1;
        let name = layout::control_plane_name(id);
        let args = vec![
            "--id".to_owned(),
            id.to_string(),
            "--listen".to_owned(),
            listen.clone(),
            "--data-dir".to_owned(),
            data_dir.join(&name).to_string_lossy().into_owned(),
            "--node-heartbeat-timeout-secs".to_owned(),
            NODE_HEARTBEAT_TIMEOUT_SECS.to_string(),
        ];
        let log = layout::log_path(data_dir, &name);
        let child = child::spawn(&name, &binaries.control_plane, &args, &log, deaths)?;
        fleet.control_plane.push(child);
    }
    for child in &mut fleet.control_plane {
        let line = child.ready_line(CONTROL_PLANE_READY).await?;
        anyhow::ensure!(
            line.starts_with("listening on "),
            "{} said {line:?} instead of \"listening on ADDR\"",
            child.name
        );
    }
    setup::form_cluster(state, data_dir, &control_plane).await?;

    eprintln!("edgectl dev: starting the worker nodes and the gateway");
    let mut regions = serde_json::Map::new();
    for region in &REGIONS {
        regions.insert(
            region.name.to_owned(),
            json!({"latitude": region.latitude, "longitude": region.longitude, "nodes": []}),
        );
    }
    for (region, node_id) in layout::worker_nodes() {
        let config = layout::worker_config_path(data_dir, node_id);
        let listen = addr(state.node_ports[node_id]);
        std::fs::create_dir_all(data_dir.join(node_id))
            .with_context(|| format!("creating {}", data_dir.join(node_id).display()))?;
        let text = layout::worker_config(region, node_id, &listen, &control_plane, data_dir);
        std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
        let args = vec!["--config".to_owned(), config.to_string_lossy().into_owned()];
        let log = layout::log_path(data_dir, node_id);
        fleet.nodes.push(child::spawn(
            node_id,
            &binaries.worker_node,
            &args,
            &log,
            deaths,
        )?);
    }
    let gateway_listen = addr(state.gateway_port);
    let region = layout::GATEWAY_REGION;
    let args = vec![
        "--listen".to_owned(),
        gateway_listen.clone(),
        "--control-plane".to_owned(),
        control_plane.join(","),
        "--region".to_owned(),
        region.name.to_owned(),
        "--latitude".to_owned(),
        region.latitude.to_string(),
        "--longitude".to_owned(),
        region.longitude.to_string(),
        "--node-refresh-ms".to_owned(),
        GATEWAY_NODE_REFRESH.as_millis().to_string(),
    ];
    let log = layout::log_path(data_dir, "gateway");
    let gateway = fleet.gateway.insert(child::spawn(
        "gateway",
        &binaries.gateway,
        &args,
        &log,
        deaths,
    )?);
    let gateway_line = ready_json(gateway, GATEWAY_READY).await?;
    let gateway_addr = gateway_line["listen"]
        .as_str()
        .unwrap_or(&gateway_listen)
        .to_owned();
    for (node, (region, node_id)) in fleet.nodes.iter_mut().zip(layout::worker_nodes()) {
        let line = ready_json(node, NODE_READY).await?;
        let entry = json!({
            "node_id": node_id,
            "addr": line["listen"].as_str().map_or_else(|| addr(state.node_ports[node_id]), str::to_owned),
            "pid": node.pid,
            "config": layout::worker_config_path(data_dir, node_id),
        });
        if let Some(Value::Array(nodes)) = regions
            .get_mut(region.name)
            .and_then(|r| r.get_mut("nodes"))
        {
            nodes.push(entry);
        }
    }

    eprintln!("edgectl dev: waiting for every worker node to be healthy");
    setup::wait_healthy(&gateway_addr, state).await?;
    setup::ensure_tenant(&gateway_addr, state, data_dir).await?;
    if let Some(key) = &state.tenant_key {
        state::write_env(data_dir, &gateway_addr, key)?;
    }
    // The gateway refreshes its view of the nodes on its own period; two
    // periods on, it routes to every node the control plane calls healthy.
    tokio::time::sleep(2 * GATEWAY_NODE_REFRESH).await;
    Ok(json!({
        "gateway": gateway_addr,
        "admin_key": state.admin_key,
        "tenant_key": state.tenant_key,
        "tenant": layout::TENANT,
        "control_plane": control_plane,
        "regions": regions,
        "data_dir": data_dir,
    }))
}

/// A child's ready line, which must be a JSON object.
async fn ready_json(child: &mut Child, limit: Duration) -> anyhow::Result<Value> {
    let line = child.ready_line(limit).await?;
    match serde_json::from_str::<Value>(&line) {
        Ok(value) if value.is_object() => Ok(value),
        _ => anyhow::bail!(
            "{} said {line:?} instead of its JSON ready line; see its log {}",
            child.name,
            child.log.display()
        ),
    }
}
