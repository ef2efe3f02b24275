//! KubeNova's shared language: the JWT claims, the role and scope types, and the one function
//! that maps verified claims to a Kubernetes user and groups.
//!
//! The control plane signs tokens with [`SigningKey`]; the authenticating proxy checks them with
//! [`Verifier`] against a [`KeySet`] built from the published [`JwkSet`], then impersonates the
//! [`Identity`] returned by [`identity()`]. Both sides use this crate, so the RBAC bindings control
//! creates and the identity the proxy impersonates cannot drift apart.
//!
//! It also holds the custom resources ([`crd`]) the API writes and the agent reconciles, and
//! what both roles know of apps ([`apps`]: requests, pods, the names on what an app is made of).
//!
//! This crate does no I/O: time is passed in (read once in [`clock`]), keys are passed in.
//! [`conditions`] types the conditions and reasons the agent writes and everyone reads;
//! [`duration`] is the one parser of durations in flags and settings.

pub mod apps;
pub mod cidr;
pub mod claims;
pub mod clock;
pub mod conditions;
pub mod crd;
pub mod duration;
pub mod hosts;
pub mod identity;
pub mod labels;
pub mod metadata;
pub mod names;
pub mod quantity;
pub mod role;
pub mod scope;
pub mod token;

#[cfg(test)]
mod testutil;

pub use claims::{Claims, ClaimsError};
pub use identity::{Identity, identity};
pub use role::Role;
pub use scope::Scope;
pub use token::{Jwk, JwkSet, KeySet, SigningKey, TokenError, Verifier};
