//! Where a chart may come from: the check of `helm.repo` (and `helm.insecure`) before an App is
//! stored. source-controller fetches a repository URL within a second of the App being applied,
//! from inside the cluster, with its own network position; a URL that names the instance
//! metadata service, loopback, a private address, an in-cluster name, the apiserver or
//! KubeNova's own API would turn it into a request forger. So by default a repository must be a
//! public host over TLS; a platform may allow named hosts (and plain HTTP) explicitly. See ADR
//! 0011.
//!
//! The check is on the URL as written. A name that resolves to a forbidden address later (DNS
//! rebinding, or a record that simply points inside) is not caught here: that is the egress
//! NetworkPolicy of source-controller (docs/security.md).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Invalid, invalid};

/// Where chart repositories may point (platform configuration).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChartSources {
    /// Hosts (`name`, an IP address, or either with `:port`) that may be used although they are
    /// loopback, private, link-local or in-cluster names. Lower case; IPv6 in brackets.
    pub allowed_hosts: BTreeSet<String>,
    /// `http://` repositories and `insecure: true` OCI registries are allowed.
    pub plain_http: bool,
    /// Endpoints never allowed, whatever `allowed_hosts` says: the apiserver(s) and KubeNova's
    /// own API (`host` for every port, `host:port` for one).
    pub denied_endpoints: BTreeSet<String>,
}

/// The host of a repository URL, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    Name(String),
}

impl Host {
    fn display(&self) -> String {
        match self {
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
            Host::Ip(ip) => ip.to_string(),
            Host::Name(n) => n.clone(),
        }
    }
}

const FIELD: &str = "helm.repo";

/// Checks `repo` (and `insecure`) against `sources`.
pub fn check(repo: &str, insecure: bool, sources: &ChartSources) -> Result<(), Invalid> {
    let (scheme, rest) = repo.split_once("://").ok_or_else(|| {
        invalid(
            FIELD,
            "must start with https:// (a Helm repository) or oci:// (an OCI registry)",
        )
    })?;
    let scheme = scheme.to_ascii_lowercase();
    let plain = match scheme.as_str() {
        "https" => false,
        "http" => true,
        "oci" => insecure,
        _ => {
            return Err(invalid(
                FIELD,
                "must start with https:// (a Helm repository) or oci:// (an OCI registry)",
            ));
        }
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(invalid(
            FIELD,
            "must not carry a user name or password (user:password@host); give them in helm.credentials",
        ));
    }
    if authority.contains('\\') || authority.contains('%') {
        return Err(invalid(
            FIELD,
            "the host must be a plain DNS name or IP address (no escapes)",
        ));
    }
    let (host, port) = split_host_port(authority)?;
    let port = match port {
        Some(p) => p,
        None if plain && scheme != "oci" => 80,
        None => 443,
    };
    let host = parse_host(host)?;
    let shown = host.display();
    let with_port = format!("{shown}:{port}");
    let allowed = listed(&sources.allowed_hosts, &host, port, false);
    // The apiserver's and the API's hosts are refused on every port, unless that host is
    // allowed (then only their own ports are).
    if listed(&sources.denied_endpoints, &host, port, !allowed) {
        return Err(invalid(
            FIELD,
            format!(
                "{with_port} is the cluster's apiserver or KubeNova's API, not a chart repository"
            ),
        ));
    }
    if !allowed && let Some(why) = forbidden(&host) {
        return Err(invalid(
            FIELD,
            format!(
                "{shown} is {why}; charts must come from a public repository (a platform administrator can allow this host with --app-chart-hosts)"
            ),
        ));
    }
    if plain && !sources.plain_http {
        let what = if scheme == "oci" {
            "helm.insecure (a plain-HTTP OCI registry)"
        } else {
            "http://"
        };
        return Err(invalid(
            if scheme == "oci" {
                "helm.insecure"
            } else {
                FIELD
            },
            format!(
                "{what} is not allowed on this platform: use https:// or a TLS registry (a platform administrator can allow plain HTTP with --app-chart-plain-http)"
            ),
        ));
    }
    Ok(())
}

/// Whether `host:port` is in `list` (entries `host` or `host:port`, any spelling of an address);
/// with `any_port`, an entry `host:other-port` counts too.
fn listed(list: &BTreeSet<String>, host: &Host, port: u16, any_port: bool) -> bool {
    list.iter().any(|entry| {
        let Ok((h, p)) = split_host_port(entry) else {
            return false;
        };
        parse_host(h).is_ok_and(|h| h == *host) && (any_port || p.is_none_or(|p| p == port))
    })
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), Invalid> {
    let bad_port = || invalid(FIELD, "the port must be a number between 1 and 65535");
    let parse_port = |p: &str| -> Result<u16, Invalid> {
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad_port());
        }
        p.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(bad_port)
    };
    if let Some(inner) = authority.strip_prefix('[') {
        let (ip, after) = inner
            .split_once(']')
            .ok_or_else(|| invalid(FIELD, "an IPv6 address must be closed with ]"))?;
        let port = match after {
            "" => None,
            p => Some(parse_port(p.strip_prefix(':').ok_or_else(|| {
                invalid(FIELD, "unexpected text after the IPv6 address")
            })?)?),
        };
        if !ip.contains(':') {
            return Err(invalid(FIELD, format!("[{ip}] is not an IPv6 address")));
        }
        return Ok((ip, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Ok((host, Some(parse_port(port)?))),
        None => Ok((authority, None)),
    }
}

fn parse_host(host: &str) -> Result<Host, Invalid> {
    if host.is_empty() {
        return Err(invalid(
            FIELD,
            "must be a URL such as https://charts.example.com or oci://registry.example.com/charts",
        ));
    }
    if host.contains(':') {
        return host
            .parse::<Ipv6Addr>()
            .map(|ip| Host::Ip(normalise(IpAddr::V6(ip))))
            .map_err(|_| invalid(FIELD, format!("{host:?} is not an IPv6 address")));
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(ip) = parse_ipv4_loose(&name) {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    // The last label of a DNS name is never all digits (or 0x...): anything else that looks
    // numeric is an address some resolver might read differently.
    let last = name.rsplit('.').next().unwrap_or_default();
    let numeric_last = !last.is_empty()
        && (last.chars().all(|c| c.is_ascii_digit())
            || (last.starts_with("0x") && last[2..].chars().all(|c| c.is_ascii_hexdigit())));
    let labels_ok = name.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    if numeric_last || !labels_ok || name.len() > 253 {
        return Err(invalid(
            FIELD,
            format!("{host:?} is not a DNS name or an IP address"),
        ));
    }
    Ok(Host::Name(name))
}

/// An IPv4 address the way `inet_aton` (and URL parsers after it) reads one: one to four parts,
/// each decimal, octal (leading 0) or hexadecimal (0x), the last filling the remaining bytes
/// (`2130706433`, `0177.1`, `0x7f.0.0.1` are all 127.0.0.1).
fn parse_ipv4_loose(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        let (digits, radix) = if let Some(hex) = part.strip_prefix("0x") {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (*part, 10)
        };
        if digits.is_empty() && radix != 16 {
            return None;
        }
        let value = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        numbers.push(value);
    }
    let (last, first) = numbers.split_last()?;
    if first.iter().any(|n| *n > 255) {
        return None;
    }
    let room = 8 * (4 - first.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let mut value: u64 = *last;
    for (i, n) in first.iter().enumerate() {
        value |= n << (8 * (3 - i as u32));
    }
    Some(Ipv4Addr::from(u32::try_from(value).ok()?))
}

/// IPv4 addresses carried in IPv6 ones (mapped, compatible, NAT64) are judged as IPv4.
fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            let embedded =
                Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
            // ::a.b.c.d (deprecated "compatible") and 64:ff9b::a.b.c.d (NAT64).
            if s[..6] == [0, 0, 0, 0, 0, 0]
                && !embedded.is_unspecified()
                && embedded != Ipv4Addr::new(0, 0, 0, 1)
                || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
            {
                return IpAddr::V4(embedded);
            }
            ip
        }
        v4 => v4,
    }
}

/// Why a host may not be a chart repository, if it may not.
fn forbidden(host: &Host) -> Option<String> {
    match host {
        Host::Ip(IpAddr::V4(ip)) => {
            let o = ip.octets();
            let why = if ip.is_loopback() {
                "a loopback address"
            } else if ip.is_unspecified() || o[0] == 0 {
                "the unspecified address (this host)"
            } else if ip.is_link_local() {
                "a link-local address (the cloud metadata service lives there)"
            } else if ip.is_private() {
                "a private address"
            } else if o[0] == 100 && (64..128).contains(&o[1]) {
                "a shared (carrier-grade NAT) address"
            } else if o[0] == 198 && (o[1] == 18 || o[1] == 19) {
                "a benchmarking address"
            } else if ip.is_multicast() || ip.is_broadcast() || o[0] >= 240 {
                "not a unicast address"
            } else if o[..3] == [192, 0, 0] || ip.is_documentation() {
                "a reserved address"
            } else {
                return None;
            };
            Some(why.to_owned())
        }
        Host::Ip(IpAddr::V6(ip)) => {
            let s = ip.segments();
            let why = if ip.is_loopback() {
                "a loopback address"
            } else if ip.is_unspecified() {
                "the unspecified address (this host)"
            } else if s[0] & 0xffc0 == 0xfe80 {
                "a link-local address"
            } else if s[0] & 0xfe00 == 0xfc00 {
                "a private (unique local) address"
            } else if s[0] & 0xff00 == 0xff00 {
                "not a unicast address"
            } else if s[0] == 0x2001 && s[1] == 0xdb8 {
                "a reserved address"
            } else {
                return None;
            };
            Some(why.to_owned())
        }
        Host::Name(name) => {
            let last = name.rsplit('.').next().unwrap_or_default();
            let why = if name == "localhost" || last == "localhost" {
                "a name for this host (localhost)"
            } else if !name.contains('.') {
                "a single-label name, which resolves inside the cluster (a Service) or the host network"
            } else if name == "kubernetes.default"
                || name.ends_with(".svc")
                || name.contains(".svc.")
                || name.ends_with(".cluster.local")
            {
                "an in-cluster name (a Service)"
            } else if [
                "local",
                "internal",
                "localdomain",
                "home",
                "lan",
                "intranet",
                "corp",
            ]
            .contains(&last)
            {
                "a name of a private network"
            } else {
                return None;
            };
            Some(why.to_owned())
        }
    }
}

#[cfg(test)]
mod tests;
