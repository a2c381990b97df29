//! How the webhook client finds an endpoint's addresses: resolved once per
//! connection and refused when any is private or loopback (unless
//! configured), so the connection goes to exactly the addresses checked. A
//! name that answers publicly to a check and privately to the connection a
//! moment later (DNS rebinding) cannot point a delivery inward.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::url_policy::is_private;

/// The webhook client's resolver.
pub(crate) struct PolicyResolver {
    pub allow_private: bool,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && addrs.iter().any(|a| is_private(a.ip())) {
                return Err("the endpoint resolves to a private address".into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[tokio::test]
    async fn private_answers_are_refused_unless_allowed() {
        let refusing = PolicyResolver {
            allow_private: false,
        };
        let name = || Name::from_str("localhost").unwrap();
        assert!(refusing.resolve(name()).await.is_err());
        let allowing = PolicyResolver {
            allow_private: true,
        };
        let addrs: Vec<_> = allowing.resolve(name()).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}
