//! The directory and consent as the notification service asks them, faked
//! on the test's own server (services never depend on each other): which
//! units consent covers for which child, who works in which unit, and who
//! is a child's guardian. Everything else they answer UNIMPLEMENTED.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bti_proto::consent::consent_service_server::{ConsentService, ConsentServiceServer};
use bti_proto::consent::*;
use bti_proto::directory::directory_service_server::{DirectoryService, DirectoryServiceServer};
use bti_proto::directory::*;
use tonic::{Request, Response, Status};

#[derive(Default)]
struct State {
    /// (child, unit) pairs consent covers.
    covered: BTreeSet<(String, String)>,
    /// unit → (subject, leader, absent).
    members: BTreeMap<String, Vec<(String, bool, bool)>>,
    /// child → guardians.
    guardians: BTreeMap<String, Vec<String>>,
}

/// What the fakes answer; change it while the test runs.
#[derive(Clone, Default)]
pub struct Peers(Arc<Mutex<State>>);

impl Peers {
    pub fn cover(&self, child: &str, unit: &str) {
        let mut s = self.0.lock().unwrap();
        s.covered.insert((child.into(), unit.into()));
    }

    pub fn uncover(&self, child: &str, unit: &str) {
        let mut s = self.0.lock().unwrap();
        s.covered.remove(&(child.to_string(), unit.to_string()));
    }

    pub fn member(&self, unit: &str, subject: &str, leader: bool, absent: bool) {
        let mut s = self.0.lock().unwrap();
        let list = s.members.entry(unit.into()).or_default();
        list.retain(|m| m.0 != subject);
        list.push((subject.into(), leader, absent));
    }

    pub fn guardian(&self, child: &str, guardian: &str) {
        let mut s = self.0.lock().unwrap();
        s.guardians
            .entry(child.into())
            .or_default()
            .push(guardian.into());
    }

    pub fn consent_server(&self) -> ConsentServiceServer<Peers> {
        ConsentServiceServer::new(self.clone())
    }

    pub fn directory_server(&self) -> DirectoryServiceServer<Peers> {
        DirectoryServiceServer::new(self.clone())
    }
}

/// UNIMPLEMENTED for every other RPC, spelled as `async_trait` would
/// expand them (it does not see into macros).
macro_rules! unimplemented_rpcs {
    ($($name:ident($req:ty) -> $resp:ty;)*) => {
        $(
            fn $name<'life0, 'async_trait>(
                &'life0 self,
                _: Request<$req>,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<Response<$resp>, Status>> + Send + 'async_trait>,
            >
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                Box::pin(async { Err(Status::unimplemented("not faked")) })
            }
        )*
    };
}

#[tonic::async_trait]
impl ConsentService for Peers {
    async fn check_access(
        &self,
        r: Request<CheckAccessRequest>,
    ) -> Result<Response<CheckAccessResponse>, Status> {
        let r = r.into_inner();
        let allowed = self
            .0
            .lock()
            .unwrap()
            .covered
            .contains(&(r.subject.clone(), r.unit.clone()));
        Ok(Response::new(CheckAccessResponse {
            allowed,
            revision: if allowed {
                "consents/c/revisions/1".into()
            } else {
                String::new()
            },
            ..Default::default()
        }))
    }

    unimplemented_rpcs! {
        create_consent(CreateConsentRequest) -> Consent;
        get_consent(GetConsentRequest) -> Consent;
        list_consents(ListConsentsRequest) -> ListConsentsResponse;
        update_consent(UpdateConsentRequest) -> Consent;
        withdraw_consent(WithdrawConsentRequest) -> Consent;
        get_consent_revision(GetConsentRevisionRequest) -> ConsentRevision;
        list_consent_revisions(ListConsentRevisionsRequest) -> ListConsentRevisionsResponse;
        create_representation(CreateRepresentationRequest) -> Representation;
        get_representation(GetRepresentationRequest) -> Representation;
        list_representations(ListRepresentationsRequest) -> ListRepresentationsResponse;
        batch_check_access(BatchCheckAccessRequest) -> BatchCheckAccessResponse;
        revoke_representation(RevokeRepresentationRequest) -> Representation;
    }
}

#[tonic::async_trait]
impl DirectoryService for Peers {
    async fn list_members(
        &self,
        r: Request<ListMembersRequest>,
    ) -> Result<Response<ListMembersResponse>, Status> {
        let unit = r.into_inner().parent;
        let s = self.0.lock().unwrap();
        let members = s
            .members
            .get(&unit)
            .into_iter()
            .flatten()
            .map(|(subject, leader, absent)| Member {
                name: format!("{unit}/members/{subject}"),
                subject: subject.clone(),
                role: if *leader {
                    MemberRole::UnitLeader
                } else {
                    MemberRole::Employee
                } as i32,
                absent: *absent,
                ..Default::default()
            })
            .collect();
        Ok(Response::new(ListMembersResponse {
            members,
            ..Default::default()
        }))
    }

    async fn list_guardianships(
        &self,
        r: Request<ListGuardianshipsRequest>,
    ) -> Result<Response<ListGuardianshipsResponse>, Status> {
        let child = r.into_inner().parent;
        let s = self.0.lock().unwrap();
        let guardianships = s
            .guardians
            .get(&child)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, g)| Guardianship {
                name: format!("{child}/guardianships/{i}"),
                guardian: g.clone(),
                parental_responsibility: true,
                ..Default::default()
            })
            .collect();
        Ok(Response::new(ListGuardianshipsResponse {
            guardianships,
            ..Default::default()
        }))
    }

    unimplemented_rpcs! {
        create_tenant(CreateTenantRequest) -> Tenant;
        get_tenant(GetTenantRequest) -> Tenant;
        list_tenants(ListTenantsRequest) -> ListTenantsResponse;
        update_tenant(UpdateTenantRequest) -> Tenant;
        create_unit(CreateUnitRequest) -> Unit;
        get_unit(GetUnitRequest) -> Unit;
        list_units(ListUnitsRequest) -> ListUnitsResponse;
        update_unit(UpdateUnitRequest) -> Unit;
        create_member(CreateMemberRequest) -> Member;
        get_member(GetMemberRequest) -> Member;
        update_member(UpdateMemberRequest) -> Member;
        delete_member(DeleteMemberRequest) -> ();
        create_person(CreatePersonRequest) -> Person;
        get_person(GetPersonRequest) -> Person;
        list_persons(ListPersonsRequest) -> ListPersonsResponse;
        update_person(UpdatePersonRequest) -> Person;
        lookup_person(LookupPersonRequest) -> Person;
        create_guardianship(CreateGuardianshipRequest) -> Guardianship;
        get_guardianship(GetGuardianshipRequest) -> Guardianship;
        update_guardianship(UpdateGuardianshipRequest) -> Guardianship;
        delete_guardianship(DeleteGuardianshipRequest) -> ();
    }
}
