//! Where a request goes: the client's location, then an ordered list of
//! worker nodes to try — nearest region first (great-circle distance), and
//! within a region the rendezvous-hash winner for a stored Worker (so it
//! stays warm on one node) or the least-loaded node for a one-off run.
//! Pure functions over a node snapshot; no I/O.

use std::collections::BTreeMap;
use std::net::IpAddr;

use edge_proto::v1::NodeHealth;
use edge_proto::v1::NodeInfo;

use crate::geo::CidrTable;
use crate::geo::Coordinates;
use crate::geo::haversine_km;
use crate::geo::valid_region_name;

/// How to pick a node within a region.
#[derive(Debug, Clone, Copy)]
pub enum Placement<'a> {
    /// Rendezvous hashing on (tenant, worker id): the same Worker lands on
    /// the same node while that node is eligible.
    Sticky {
        /// The tenant.
        tenant: &'a str,
        /// The Worker's id.
        worker_id: &'a str,
    },
    /// The node with the fewest live isolates (one-off runs).
    LeastLoaded,
}

/// The client's location hints, as sent in metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocationHints<'a> {
    /// `x-edge-region`.
    pub region: Option<&'a str>,
    /// `x-edge-lat`.
    pub latitude: Option<&'a str>,
    /// `x-edge-lon`.
    pub longitude: Option<&'a str>,
    /// The peer's address, for the CIDR table.
    pub peer: Option<IpAddr>,
}

/// Why the client's location hints are unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LocationError {
    /// `x-edge-region` is not a valid region name.
    #[error("x-edge-region {0:?} is not 1-64 characters of [A-Za-z0-9._-]")]
    BadRegionName(String),
    /// `x-edge-region` names no region the gateway knows.
    #[error("x-edge-region {name:?} is not a known region (known: {known})")]
    UnknownRegion {
        /// What the client sent.
        name: String,
        /// The regions the gateway knows, comma separated.
        known: String,
    },
    /// Only one of `x-edge-lat` / `x-edge-lon`.
    #[error("x-edge-lat and x-edge-lon must be sent together")]
    HalfCoordinates,
    /// Not numbers, or off the globe.
    #[error("x-edge-lat/x-edge-lon {lat:?}/{lon:?}: {reason}")]
    BadCoordinates {
        /// What the client sent as latitude.
        lat: String,
        /// What the client sent as longitude.
        lon: String,
        /// Why it is not a place.
        reason: String,
    },
}

/// Where each region is: the mean position of its nodes (any health).
pub fn region_centres(nodes: &[NodeInfo]) -> BTreeMap<String, Coordinates> {
    let mut sums: BTreeMap<&str, (f64, f64, u32)> = BTreeMap::new();
    for n in nodes {
        if Coordinates::new(n.latitude, n.longitude).is_err() {
            continue;
        }
        let e = sums.entry(n.region.as_str()).or_default();
        e.0 += n.latitude;
        e.1 += n.longitude;
        e.2 += 1;
    }
    sums.into_iter()
        .filter_map(|(region, (lat, lon, count))| {
            let c = Coordinates::new(lat / f64::from(count), lon / f64::from(count)).ok()?;
            Some((region.to_string(), c))
        })
        .collect()
}

/// The client's location: `x-edge-region`, else `x-edge-lat`/`x-edge-lon`,
/// else the CIDR table on the peer address, else the gateway's own region.
pub fn client_location(
    hints: LocationHints<'_>,
    regions: &BTreeMap<String, Coordinates>,
    cidr: &CidrTable,
    own: (&str, Coordinates),
) -> Result<Coordinates, LocationError> {
    let lookup = |name: &str| {
        if name == own.0 {
            // The gateway's configured position wins for its own region.
            Some(own.1)
        } else {
            regions.get(name).copied()
        }
    };
    if let Some(name) = hints.region {
        if !valid_region_name(name) {
            return Err(LocationError::BadRegionName(name.to_string()));
        }
        return lookup(name).ok_or_else(|| LocationError::UnknownRegion {
            name: name.to_string(),
            known: known_regions(regions, own.0),
        });
    }
    match (hints.latitude, hints.longitude) {
        (Some(lat), Some(lon)) => return parse_coordinates(lat, lon),
        (None, None) => {}
        _ => return Err(LocationError::HalfCoordinates),
    }
    let by_network = hints
        .peer
        .and_then(|ip| cidr.region_of(ip))
        .and_then(lookup);
    Ok(by_network.unwrap_or(own.1))
}

fn known_regions(regions: &BTreeMap<String, Coordinates>, own: &str) -> String {
    let mut names: Vec<&str> = regions.keys().map(String::as_str).collect();
    if !names.contains(&own) {
        names.push(own);
    }
    names.sort_unstable();
    names.join(", ")
}

fn parse_coordinates(lat: &str, lon: &str) -> Result<Coordinates, LocationError> {
    let bad = |reason: String| LocationError::BadCoordinates {
        lat: lat.to_string(),
        lon: lon.to_string(),
        reason,
    };
    let la: f64 = lat
        .trim()
        .parse()
        .map_err(|_| bad("not decimal degrees".into()))?;
    let lo: f64 = lon
        .trim()
        .parse()
        .map_err(|_| bad("not decimal degrees".into()))?;
    Coordinates::new(la, lo).map_err(|e| bad(e.to_string()))
}

/// Whether a node may take new work: healthy (not draining) and below capacity.
pub fn eligible(node: &NodeInfo) -> bool {
    node.health == NodeHealth::Healthy as i32 && (node.capacity == 0 || node.load < node.capacity)
}

/// Rendezvous (highest random weight) score of `node_id` for a Worker.
/// Stable across processes and versions: FNV-1a, then a 64-bit finaliser.
pub fn rendezvous_score(tenant: &str, worker_id: &str, node_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        tenant.as_bytes(),
        &[0x1f],
        worker_id.as_bytes(),
        &[0x1f],
        node_id.as_bytes(),
    ] {
        for &b in part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    // splitmix64 finaliser: FNV alone leaves the high bits poorly mixed.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Nodes to try, best first: regions by distance from `client` (those with
/// at least one eligible node not in `skip`), and within each region the
/// order `placement` gives.
pub fn candidates<'n>(
    nodes: &'n [NodeInfo],
    client: Coordinates,
    placement: Placement<'_>,
    skip: impl Fn(&str) -> bool,
) -> Vec<&'n NodeInfo> {
    let centres = region_centres(nodes);
    let mut by_region: BTreeMap<&str, Vec<&NodeInfo>> = BTreeMap::new();
    for n in nodes.iter().filter(|n| eligible(n) && !skip(&n.node_id)) {
        by_region.entry(n.region.as_str()).or_default().push(n);
    }
    let mut regions: Vec<(f64, &str, Vec<&NodeInfo>)> = by_region
        .into_iter()
        .map(|(region, members)| {
            let distance = centres
                .get(region)
                .map(|c| haversine_km(client, *c))
                .unwrap_or(f64::INFINITY);
            (distance, region, members)
        })
        .collect();
    regions.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    let mut out = Vec::new();
    for (_, _, mut members) in regions {
        order_within_region(&mut members, placement);
        out.extend(members);
    }
    out
}

fn order_within_region(members: &mut [&NodeInfo], placement: Placement<'_>) {
    match placement {
        Placement::Sticky { tenant, worker_id } => members.sort_by_cached_key(|n| {
            std::cmp::Reverse((
                rendezvous_score(tenant, worker_id, &n.node_id),
                n.node_id.clone(),
            ))
        }),
        Placement::LeastLoaded => members.sort_by(|a, b| {
            load_fraction(a)
                .total_cmp(&load_fraction(b))
                .then(a.in_flight.cmp(&b.in_flight))
                .then(a.node_id.cmp(&b.node_id))
        }),
    }
}

fn load_fraction(n: &NodeInfo) -> f64 {
    if n.capacity == 0 {
        f64::from(n.load)
    } else {
        f64::from(n.load) / f64::from(n.capacity)
    }
}
