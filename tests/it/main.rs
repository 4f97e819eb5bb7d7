//! The integration tests: one binary, one module per area, and `support` for what they share.
//! tests/README.md says where a new test goes.

mod support;

mod broken_pipe;
mod build;
mod build_git;
mod build_policy;
mod build_untrusted;
mod cache;
mod check;
mod check_names;
mod check_paths;
mod cli;
mod cloudflare_worker;
mod container;
mod digests;
mod fetch;
mod gate;
mod host_config;
mod import;
mod incremental;
mod init;
mod interop;
mod interrupt;
mod manifest_docs;
mod manifest_rules;
mod memory;
mod model;
mod pack;
mod publication;
mod readme;
mod report_docs;
mod schema;
mod schema_types;
mod schemes;
mod serve;
mod signature_rules;
mod workflows;
