//! `serve`: a local preview of a built site.

use std::path::Path;

use anyhow::Result;

/// Serves `dir` on 127.0.0.1:`port` until interrupted.
pub fn serve(_dir: &Path, _port: u16) -> Result<()> {
    anyhow::bail!("not yet")
}
