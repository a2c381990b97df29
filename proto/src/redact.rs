//! Debug impls that never print a national id. Generated messages listed in
//! `build.rs` (REDACTED) have no derived Debug; every field but the id is shown.

use std::fmt;

use crate::directory::{LookupPersonRequest, Person};

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
    }
}
