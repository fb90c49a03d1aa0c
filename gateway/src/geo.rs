//! Places on Earth: validated coordinates, great-circle distance, region
//! names and the CIDR → region table applied to a client's address.

use std::net::IpAddr;
use std::str::FromStr;

/// Mean Earth radius (IUGG), kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;
/// Longest region name accepted.
pub const MAX_REGION_NAME: usize = 64;

/// A latitude/longitude pair in degrees, checked to be on the globe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    latitude: f64,
    longitude: f64,
}

/// Why a pair of numbers is not a place.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeoError {
    /// Latitude outside [-90, 90] or not a number.
    #[error("latitude {0} is not a number in [-90, 90]")]
    Latitude(f64),
    /// Longitude outside [-180, 180] or not a number.
    #[error("longitude {0} is not a number in [-180, 180]")]
    Longitude(f64),
}

impl Coordinates {
    /// Checks the ranges: latitude in [-90, 90], longitude in [-180, 180].
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, GeoError> {
        if !(-90.0..=90.0).contains(&latitude) {
            return Err(GeoError::Latitude(latitude));
        }
        if !(-180.0..=180.0).contains(&longitude) {
            return Err(GeoError::Longitude(longitude));
        }
        Ok(Self {
            latitude,
            longitude,
        })
    }

    /// Degrees north.
    pub fn latitude(&self) -> f64 {
        self.latitude
    }

    /// Degrees east.
    pub fn longitude(&self) -> f64 {
        self.longitude
    }
}

/// Great-circle distance in kilometres (haversine formula).
pub fn haversine_km(a: Coordinates, b: Coordinates) -> f64 {
    let (lat1, lat2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.longitude - a.longitude).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    // Rounding can push h a hair past 1 for antipodal points.
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// Whether `name` is 1-64 characters of `[A-Za-z0-9._-]`.
pub fn valid_region_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_REGION_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// An IP network, e.g. `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a text is not a CIDR network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a network like 10.0.0.0/8 or 2001:db8::/32: {reason}")]
pub struct CidrError {
    text: String,
    reason: &'static str,
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| CidrError {
            text: text.to_string(),
            reason,
        };
        let (addr, prefix) = text.split_once('/').ok_or_else(|| err("no /prefix"))?;
        let network: IpAddr = addr.parse().map_err(|_| err("bad address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| err("bad prefix length"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        if prefix > bits {
            return Err(err("prefix longer than the address"));
        }
        Ok(Self { network, prefix })
    }
}

impl Cidr {
    /// Whether `ip` is inside the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(u32::from(net).into(), u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }

    /// Prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8, bits: u32) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = bits - u32::from(prefix);
    (a >> shift) == (b >> shift)
}

/// Client networks → region, longest prefix first.
#[derive(Debug, Clone, Default)]
pub struct CidrTable {
    entries: Vec<(Cidr, String)>,
}

impl CidrTable {
    /// A table of `(network, region)` pairs.
    pub fn new(mut entries: Vec<(Cidr, String)>) -> Self {
        // Most specific network first, so the first match is the longest prefix.
        entries.sort_by_key(|e| std::cmp::Reverse(e.0.prefix));
        Self { entries }
    }

    /// The region of the most specific network containing `ip`.
    pub fn region_of(&self, ip: IpAddr) -> Option<&str> {
        self.entries
            .iter()
            .find(|(net, _)| net.contains(ip))
            .map(|(_, region)| region.as_str())
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
