//! mpk-registry: verify signed Calimero `.mpk` bundles exactly as a node would, and build a
//! static registry from a git-tracked folder of them.
//!
//! One bundle flows through: [`bundle`] (read the container in one pass) → [`manifest`] (parse
//! and check fields) → [`canonical`] + [`signature`] (what is signed, and by whom) →
//! [`verify`] (the verdict, as a [`report`]).
//!
//! A registry flows through: [`source`] (discover `registry-src/`, with [`git`], [`config`] and [`publication`])
//! → [`content_id`] (name each bundle by its bytes) → [`verify`] every bundle in parallel, or
//! take its verdict from the [`cache`] → [`policy`] (rules across bundles) → [`site`] (plan and
//! write the static site, unless it is already the site of these inputs).

pub mod atomic_file;
pub mod bundle;
pub mod cache;
pub mod canonical;
pub mod check;
pub mod config;
pub mod content_id;
pub mod fetch;
pub mod git;
pub mod identity;
pub mod import;
pub mod init;
pub mod keys;
pub mod layout;
pub mod manifest;
pub mod nginx;
pub mod pack;
pub mod policy;
pub mod publication;
pub mod report;
pub mod schema;
pub mod serve;
pub mod signature;
pub mod site;
pub mod source;
pub mod verify;
pub mod version;
