//! Which webhook targets are allowed: HTTPS only outside `bti dev`; no
//! credentials in the URL; private, loopback, link-local and unspecified
//! addresses refused unless the operator allows them (a receiver on the
//! municipality's own network). Redirects are never followed (the HTTP
//! client is built with no redirect policy), so a public URL cannot bounce
//! the request inward. Host names are checked again after resolution by the
//! sender; this checks what the URL itself says.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// `bti dev`: plain http allowed.
    pub allow_http: bool,
    /// `allow_private_webhook_targets`.
    pub allow_private: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    NotHttps,
    Credentials,
    PrivateAddress,
}

impl Refusal {
    /// The field-violation text (no part of the URL is echoed).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Malformed => "must be an absolute http(s) URL",
            Refusal::NotHttps => "must use https",
            Refusal::Credentials => "must not contain credentials",
            Refusal::PrivateAddress => "must not point at a private or loopback address",
        }
    }
}

pub fn check(raw: &str, policy: Policy) -> Result<Url, Refusal> {
    let url = Url::parse(raw).map_err(|_| Refusal::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => return Err(Refusal::NotHttps),
        _ => return Err(Refusal::Malformed),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::Credentials);
    }
    let host = url.host().ok_or(Refusal::Malformed)?;
    if !policy.allow_private {
        let private = match &host {
            Host::Ipv4(ip) => is_private(IpAddr::V4(*ip)),
            Host::Ipv6(ip) => is_private(IpAddr::V6(*ip)),
            Host::Domain(d) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                d == "localhost" || d.ends_with(".localhost") || d.ends_with(".internal")
            }
        };
        if private {
            return Err(Refusal::PrivateAddress);
        }
    }
    Ok(url)
}

/// Addresses a webhook must not reach unless allowed; the sender applies
/// this to every resolved address too.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return private_v4(v4);
            }
            private_v6(v6)
        }
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || o[0] == 0
        // 100.64.0.0/10, carrier-grade NAT
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
}

fn private_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        // fc00::/7 unique local, fe80::/10 link local
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVE: Policy = Policy {
        allow_http: false,
        allow_private: false,
    };

    #[test]
    fn https_only_outside_dev() {
        assert!(check("https://sak.example.no/hook", SERVE).is_ok());
        assert_eq!(
            check("http://sak.example.no/hook", SERVE),
            Err(Refusal::NotHttps)
        );
        let dev = Policy {
            allow_http: true,
            allow_private: true,
        };
        assert!(check("http://127.0.0.1:8080/hook", dev).is_ok());
        assert_eq!(check("ftp://x.no/", dev), Err(Refusal::Malformed));
        assert_eq!(check("not a url", dev), Err(Refusal::Malformed));
    }

    #[test]
    fn private_and_loopback_refused_unless_allowed() {
        for u in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://192.168.0.1/",
            "https://172.16.5.5/",
            "https://169.254.169.254/latest",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://localhost/",
            "https://0.0.0.0/",
            "https://100.64.1.1/",
        ] {
            assert_eq!(check(u, SERVE), Err(Refusal::PrivateAddress), "{u}");
        }
        let allowed = Policy {
            allow_http: false,
            allow_private: true,
        };
        assert!(check("https://10.1.2.3/", allowed).is_ok());
        assert!(check("https://93.184.216.34/", SERVE).is_ok());
    }

    #[test]
    fn credentials_refused() {
        assert_eq!(
            check("https://u:p@sak.example.no/", SERVE),
            Err(Refusal::Credentials)
        );
    }
}
