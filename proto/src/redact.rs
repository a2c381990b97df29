//! Debug impls that never print a national id. Generated messages listed in
//! `build.rs` (REDACTED) have no derived Debug; every field but the id is shown.

use std::fmt;

use crate::directory::{LookupPersonRequest, Person};
use crate::gateway::referral::Content;
use crate::gateway::referral_subject::Identity;
use crate::gateway::{Referral, ReferralSubject};

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Person")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("national_id", &"<redacted>")
            .field("etag", &self.etag)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LookupPersonRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LookupPersonRequest")
            .field("parent", &self.parent)
            .field("national_id", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for ReferralSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReferralSubject")
            .field("identity", &self.identity)
            .finish()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::NationalId(_) => f.write_str("NationalId(<redacted>)"),
            Identity::UnbornChildOf(_) => f.write_str("UnbornChildOf(<redacted>)"),
        }
    }
}

/// A referral carries case text and, in a Fiks document, the child's `fnr`:
/// only its bookkeeping is shown.
impl fmt::Debug for Referral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Referral")
            .field("name", &self.name)
            .field("tenant", &self.tenant)
            .field("kind", &self.kind)
            .field("client", &self.client)
            .field("restricted", &self.restricted)
            .field("status", &self.status)
            .field("placement", &self.placement)
            .field("subject", &self.subject)
            .field("content", &self.content)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Structured(_) => f.write_str("Structured(<redacted>)"),
            Content::FiksBekymringsmeldingJson(_) => {
                f.write_str("FiksBekymringsmeldingJson(<redacted>)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_national_id_and_names() {
        let p = Person {
            national_id: "01010750160".into(),
            given_name: "Kari".into(),
            ..Default::default()
        };
        let shown = format!("{p:?}");
        assert!(!shown.contains("01010750160"));
        assert!(!shown.contains("Kari"));
        let r = LookupPersonRequest {
            parent: "tenants/4201".into(),
            national_id: "01010750160".into(),
        };
        assert!(!format!("{r:?}").contains("01010750160"));
        let s = ReferralSubject {
            identity: Some(Identity::UnbornChildOf("01010750160".into())),
        };
        assert!(!format!("{s:?}").contains("01010750160"));
        let fiks = Referral {
            subject: Some(s),
            content: Some(Content::FiksBekymringsmeldingJson(
                r#"{"offentligBarn":[{"fnr":"01010750160","personnavn":"Kari"}]}"#.into(),
            )),
            ..Default::default()
        };
        let shown = format!("{fiks:?}");
        assert!(!shown.contains("01010750160") && !shown.contains("Kari"));
    }
}
