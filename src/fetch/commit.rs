//! The only step that writes anything a user or a later fetch reads.

use std::path::PathBuf;

use super::download::Download;
use super::state::{Pins, TrustState};
use super::Step;

/// Step 8: renames the bundle into place, then saves the trust state with `pins`.
///
/// In this order the pins never claim more than happened. If the bundle cannot be placed, the
/// state file is left as it was: no signer pinned, no registry version raised, for a bundle
/// that never arrived. If the state cannot be saved, the bundle (which passed every check) is
/// in place and the pins are as they were, so the next fetch checks and pins again.
pub(super) fn commit(download: Download, state: TrustState, pins: Pins) -> Step<PathBuf> {
    let path = download.place()?;
    state.save(pins)?;
    Ok(path)
}
