//! Where a plugin's HTTP may go, decided where the connection is made: a
//! host its manifest declares, at public addresses only (names are resolved
//! here, and the addresses checked are the ones dialled), or exactly the
//! origin of a base URL the operator configured, at any address. Also the
//! request headers a plugin may not set. It knows nothing of retries or
//! redirects: `http` asks it about every hop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use url::{Host, Origin, Url};

/// The destinations one plugin's run may reach.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    /// Hosts reachable at public addresses: the manifest's, and the hosts of
    /// the operator's base URLs (at any port).
    hosts: Vec<Host<String>>,
    /// What the allow-list says in errors, as written.
    shown: Vec<String>,
    /// The operator's base URLs' origins: reachable at any address.
    operator: Vec<Origin>,
}

/// How a hop that may be made is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The origin of an operator's base URL: the operator chose it, wherever
    /// it points (the tests' simulators on `127.0.0.1` are reached so).
    Operator,
    /// A declared host: names go through [`PublicResolver`], and an IP
    /// literal was checked here.
    Public,
}

impl Destinations {
    /// The manifest's `declared` hosts and the operator's `base_urls` (any
    /// setting value that is an http or https URL).
    pub fn new<'a>(declared: &[String], base_urls: impl IntoIterator<Item = &'a str>) -> Self {
        let mut d = Destinations::default();
        for h in declared {
            if let Some(host) = parse_host(h) {
                d.hosts.push(host);
            }
            d.shown.push(h.clone());
        }
        for url in base_urls.into_iter().filter_map(|u| Url::parse(u).ok()) {
            if !matches!(url.scheme(), "http" | "https") {
                continue;
            }
            if let Some(host) = url.host() {
                d.hosts.push(host.to_owned());
                d.shown.push(url.host_str().unwrap_or_default().to_string());
            }
            d.operator.push(url.origin());
        }
        d
    }

    /// How `url` is reached, or why it may not be: a host nobody allowed, or
    /// an address of this machine or a private network outside the
    /// operator's base URLs. Names are judged when they are resolved.
    pub fn route(&self, url: &Url) -> Result<Route, String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("scheme {} is not allowed; only http and https", url.scheme()));
        }
        if self.operator.contains(&url.origin()) {
            return Ok(Route::Operator);
        }
        let host = url.host().ok_or_else(|| format!("URL {url} has no host"))?;
        if !self.hosts.iter().any(|h| same_host(h, &host)) {
            let shown = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
            return Err(format!(
                "host {shown} is not allowed for this plugin (allowed: {}); declare it in the \
                 manifest's hosts or configure it as the plugin's base URL",
                if self.shown.is_empty() { "none".to_string() } else { self.shown.join(", ") }
            ));
        }
        let ip = match host {
            Host::Ipv4(ip) => IpAddr::V4(ip),
            Host::Ipv6(ip) => IpAddr::V6(ip),
            Host::Domain(_) => return Ok(Route::Public),
        };
        match non_public(ip) {
            None => Ok(Route::Public),
            Some(what) => Err(Refused::literal(url.host_str().unwrap_or_default(), &what)
                .with_bases(&self.operator)
                .0),
        }
    }
}

fn same_host(allowed: &Host<String>, host: &Host<&str>) -> bool {
    match (allowed, host) {
        (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
        (Host::Ipv4(a), Host::Ipv4(b)) => a == b,
        (Host::Ipv6(a), Host::Ipv6(b)) => a == b,
        _ => false,
    }
}

/// A host as a manifest or a setting writes it, as a URL would read it:
/// IPv6 with or without brackets, IPv4 in any form a URL accepts (`127.1`,
/// `0x7f000001`), names lowercased and IDNA-mapped.
pub fn parse_host(written: &str) -> Option<Host<String>> {
    let t = written.trim();
    let inner = t.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(t);
    if inner.contains(':') {
        return inner.parse::<Ipv6Addr>().ok().map(Host::Ipv6);
    }
    Host::parse(inner).ok()
}

/// Whether a manifest's host names this machine or a private network in
/// itself (a `localhost` name, or an address that is not public, in any
/// spelling). Names that merely resolve to one are refused when they are
/// resolved; a manifest is not the place to look them up.
pub fn is_local_host(written: &str) -> bool {
    match parse_host(written) {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.');
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => non_public(IpAddr::V4(ip)).is_some(),
        Some(Host::Ipv6(ip)) => non_public(IpAddr::V6(ip)).is_some(),
        None => false,
    }
}

/// What kind of address `ip` is, if it is not a public one: this machine,
/// a private or link-local network, shared (CGNAT), multicast, broadcast,
/// reserved or documentation space, and the IPv6 forms that carry an IPv4
/// address (mapped, compatible, translated, NAT64, 6to4), judged by it.
pub fn non_public(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => ipv4_kind(v4).map(str::to_string),
        IpAddr::V6(v6) => ipv6_kind(v6),
    }
}

fn ipv4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "an unspecified address (0.0.0.0/8)",
        (127, ..) => "a loopback address",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "a private address",
        (169, 254, _) => "a link-local address",
        (100, 64..=127, _) => "a shared (CGNAT) address",
        (192, 0, 0) => "an IETF protocol address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (198, 18..=19, _) => "a benchmarking address",
        (224..=239, ..) => "a multicast address",
        (255, 255, 255) if ip.is_broadcast() => "the broadcast address",
        (240..=255, ..) => "a reserved address",
        _ => return None,
    })
}

fn ipv6_kind(ip: Ipv6Addr) -> Option<String> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if ip.is_unspecified() {
        return Some("the unspecified address".into());
    }
    if ip.is_loopback() {
        return Some("a loopback address".into());
    }
    // Forms that carry an IPv4 address reach it (the kernel, a NAT64
    // gateway or a 6to4 relay translates them): they are what it is.
    let carried = match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(("an IPv4-mapped", v4(hi, lo))),
        [0, 0, 0, 0, 0, 0, hi, lo] => Some(("an IPv4-compatible", v4(hi, lo))),
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => Some(("an IPv4-translated", v4(hi, lo))),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(("a NAT64", v4(hi, lo))),
        [0x2002, hi, lo, ..] => Some(("a 6to4", v4(hi, lo))),
        _ => None,
    };
    if let Some((form, v4)) = carried {
        return ipv4_kind(v4).map(|kind| format!("{form} form of {v4}, {kind}"));
    }
    Some(
        match s {
            [0x64, 0xff9b, 1, ..] => "a local-use NAT64 address",
            [0x100, 0, 0, 0, ..] => "a discard-only address",
            [0x2001, 0, ..] => "a Teredo address",
            [0x2001, 2, 0, ..] => "a benchmarking address",
            [0x2001, 0xdb8, ..] => "a documentation address",
            [a, ..] if a & 0xfff0 == 0x3ff0 => "a documentation address",
            [a, ..] if a & 0xfe00 == 0xfc00 => "a unique local address (fc00::/7)",
            [a, ..] if a & 0xffc0 == 0xfe80 => "a link-local address",
            [a, ..] if a & 0xffc0 == 0xfec0 => "a site-local address",
            [a, ..] if a & 0xff00 == 0xff00 => "a multicast address",
            _ => return None,
        }
        .into(),
    )
}

/// A destination refused for its address: one line saying which and why.
#[derive(Debug, Clone)]
pub struct Refused(pub String);

impl Refused {
    /// An IP literal that is not public.
    fn literal(host: &str, what: &str) -> Refused {
        Refused(format!(
            "{} is {what}: a plugin reaches this machine or a private network only at the \
             operator's base URL",
            host.trim_matches(['[', ']'])
        ))
    }

    /// A name that resolved to an address that is not public.
    fn resolved(host: &str, ip: IpAddr, what: &str) -> Refused {
        Refused(format!(
            "{host} resolves to {ip}, {what}: a plugin reaches this machine or a private network \
             only at the operator's base URL"
        ))
    }

    fn with_bases(mut self, bases: &[Origin]) -> Refused {
        let shown: Vec<String> = bases.iter().map(Origin::ascii_serialization).collect();
        if !shown.is_empty() {
            self.0.push_str(&format!(" ({})", shown.join(", ")));
        }
        self
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves `host` and checks every address it has: one that is not
/// public refuses the name (an answer with several addresses is judged by
/// its worst, as a rebinding name would mix them).
pub fn lookup_public(host: &str) -> Result<Vec<SocketAddr>, LookupError> {
    let addrs: Vec<SocketAddr> =
        (host, 0u16).to_socket_addrs().map_err(LookupError::Lookup)?.collect();
    if let Some((ip, what)) = addrs.iter().find_map(|a| non_public(a.ip()).map(|w| (a.ip(), w))) {
        return Err(LookupError::Refused(Refused::resolved(host, ip, &what)));
    }
    Ok(addrs)
}

/// Why a name was not resolved to addresses a plugin may reach.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The lookup itself failed.
    #[error("{0}")]
    Lookup(std::io::Error),
    /// It resolved to an address that is not public.
    #[error("{0}")]
    Refused(Refused),
}

/// reqwest's resolver for requests to declared hosts: the name is looked up
/// here, every address checked, and the checked addresses are the ones
/// reqwest dials; no second lookup happens. The proxies the operator set in
/// the environment are resolved without the check (a proxy on a private
/// network is the operator's choice).
pub struct PublicResolver {
    /// Host names of the environment's proxies.
    pub proxies: Vec<String>,
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let proxy = self.proxies.iter().any(|p| p.eq_ignore_ascii_case(&host));
        Box::pin(async move {
            let found = tokio::task::spawn_blocking(move || {
                if proxy {
                    (host.as_str(), 0u16)
                        .to_socket_addrs()
                        .map(Iterator::collect)
                        .map_err(LookupError::Lookup)
                } else {
                    lookup_public(&host)
                }
            })
            .await
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            match found {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(LookupError::Refused(r)) => Err(Box::new(r) as _),
                Err(LookupError::Lookup(e)) => Err(Box::new(e) as _),
            }
        })
    }
}

/// Host names of the proxies the environment configures (the variables
/// reqwest reads).
pub fn proxy_hosts() -> Vec<String> {
    ["ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .filter_map(|value| {
            // A proxy may be written without a scheme (`proxy.corp:3128`).
            let url = Url::parse(&value).ok().filter(|u| u.host().is_some());
            let url = url.or_else(|| Url::parse(&format!("http://{value}")).ok())?;
            url.host_str().map(|h| h.trim_matches(['[', ']']).to_string())
        })
        .collect()
}

/// Whether a plugin may set request header `name`. The host frames each
/// request itself: a plugin that could set these could smuggle a second
/// request, address another virtual host, or talk to a proxy.
pub fn header_allowed(name: &str) -> Result<(), String> {
    let lower = name.trim().to_ascii_lowercase();
    const FRAMING: [&str; 8] = [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
    ];
    if FRAMING.contains(&lower.as_str()) || lower.starts_with("proxy-") {
        Err(format!(
            "header {:?} is set by the host, never by a plugin; request refused",
            name.trim()
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_are_public() {
        for local in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:7f00:1",
            "::ffff:127.0.0.1",
            "::ffff:a9fe:a9fe",
            "::ffff:a00:1",
            "::127.0.0.1",
            "::a00:1",
            "::ffff:0:7f00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "2001::1",
            "2001:2::1",
        ] {
            assert!(non_public(ip(local)).is_some(), "{local} passed as public");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "223.255.255.255",
            "::ffff:808:808",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
        ] {
            assert_eq!(non_public(ip(public)), None, "{public}");
        }
        assert_eq!(
            non_public(ip("::ffff:7f00:1")).unwrap(),
            "an IPv4-mapped form of 127.0.0.1, a loopback address"
        );
    }

    #[test]
    fn a_manifest_names_no_local_host_in_any_spelling() {
        for local in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "api.localhost",
            "127.0.0.1",
            "127.1",
            "0x7f000001",
            "2130706433",
            "0177.0.0.1",
            "::1",
            "[::1]",
            "::ffff:7f00:1",
            "[::ffff:127.0.0.1]",
            "::ffff:a9fe:a9fe",
            "::ffff:a00:1",
            "::127.0.0.1",
            "169.254.169.254",
            "10.1.2.3",
            "fd00::1",
        ] {
            assert!(is_local_host(local), "{local} was accepted");
        }
        for public in ["api.openai.com", "8.8.8.8", "2606:4700::1111", "localhost.example.com"] {
            assert!(!is_local_host(public), "{public} was refused");
        }
    }

    #[test]
    fn routes_reach_this_machine_only_at_the_operators_origin() {
        let d = Destinations::new(
            &["api.example.com".to_string(), "::ffff:7f00:1".to_string()],
            ["http://127.0.0.1:4000/v1", "http://[::ffff:7f00:1]:4001"],
        );
        let route = |u: &str| d.route(&Url::parse(u).unwrap());
        assert_eq!(route("http://127.0.0.1:4000/other?x=1"), Ok(Route::Operator));
        assert_eq!(route("http://[::ffff:127.0.0.1]:4001/"), Ok(Route::Operator));
        assert_eq!(route("https://API.example.com/x"), Ok(Route::Public));
        let other_port = route("http://127.0.0.1:4002/").unwrap_err();
        assert!(other_port.contains("127.0.0.1 is a loopback address"), "{other_port}");
        assert!(other_port.contains("(http://127.0.0.1:4000"), "{other_port}");
        let mapped = route("http://[::ffff:7f00:1]:4002/").unwrap_err();
        assert!(mapped.contains("IPv4-mapped form of 127.0.0.1"), "{mapped}");
        let https = route("https://127.0.0.1:4000/").unwrap_err();
        assert!(https.contains("loopback"), "another scheme is another origin: {https}");
        let undeclared = route("http://127.0.0.2:4000/").unwrap_err();
        assert!(undeclared.contains("host 127.0.0.2 is not allowed"), "{undeclared}");
        assert!(route("ftp://api.example.com/").is_err());
    }

    #[test]
    fn names_are_checked_by_what_they_resolve_to() {
        // `localhost` is answered from /etc/hosts, never by a DNS server.
        match lookup_public("localhost") {
            Err(LookupError::Refused(r)) => {
                assert!(r.0.starts_with("localhost resolves to "), "{r}");
                assert!(r.0.contains("loopback"), "{r}");
            }
            other => panic!("localhost was not refused: {other:?}"),
        }
    }

    #[test]
    fn framing_and_proxy_headers_are_the_hosts() {
        for name in [
            "Host",
            "content-length",
            "Transfer-Encoding",
            "Connection",
            "Keep-Alive",
            "Upgrade",
            "TE",
            "Trailer",
            "Proxy-Authorization",
            "proxy-connection",
        ] {
            let err = header_allowed(name).unwrap_err();
            assert!(err.contains(&format!("header {name:?} is set by the host")), "{err}");
        }
        for name in ["Authorization", "Accept", "anthropic-version", "X-Proxy-Id"] {
            assert!(header_allowed(name).is_ok(), "{name}");
        }
    }
}
