//! mpk-registry: verify signed Calimero `.mpk` bundles exactly as a node would, and build a
//! static registry from a git-tracked folder of them.
//!
//! One bundle flows through: [`bundle`] (read the container in one pass) → [`manifest`] (parse
//! and check fields) → [`canonical`] + [`signature`] (what is signed, and by whom) →
//! [`verify`] (the verdict, as a [`report`]).

pub mod bundle;
pub mod canonical;
pub mod identity;
pub mod keys;
pub mod manifest;
pub mod pack;
pub mod report;
pub mod signature;
pub mod verify;
