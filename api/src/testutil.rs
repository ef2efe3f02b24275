//! Fixtures shared by the unit tests.

use crate::claims::{Claims, PROXY_AUDIENCE};
use crate::role::Role;

/// The fixed "current time" tests verify against.
pub(crate) const NOW: i64 = 1_800_000_000;
/// The issuer every fixture token names.
pub(crate) const ISSUER: &str = "https://control.kubenova.test";

/// Valid claims for `alice` with the given roles and scope, issued at [`NOW`] for one hour.
pub(crate) fn claims(roles: &[Role], tenant: Option<&str>, project: Option<&str>) -> Claims {
    Claims {
        iss: ISSUER.to_owned(),
        sub: "alice".to_owned(),
        aud: PROXY_AUDIENCE.to_owned(),
        exp: NOW + 3600,
        nbf: NOW,
        iat: NOW,
        jti: "jti-1".to_owned(),
        roles: roles.to_vec(),
        tenant: tenant.map(str::to_owned),
        project: project.map(str::to_owned),
        cluster: Some("local".to_owned()),
    }
}
