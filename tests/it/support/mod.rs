//! What the integration tests share: bundles and keys, registry folders and the sites built
//! from them, git repositories for the gate, and fetch's served registries.

pub mod bundle;
pub mod fetch;
pub mod git;
pub mod registry;
