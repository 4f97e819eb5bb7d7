//! The downloaded bundle, judged on its own: every check a node makes, then whether it is what
//! the index says it is, then whether its signer is the one this client pinned. The digest
//! check of the download ties the bundle to the index; these tie it to its publisher, which an
//! unsigned index (or a registry that let a new signer in) cannot.

use anyhow::anyhow;

use super::download::Download;
use super::refusal::problems;
use super::state::Pins;
use super::{Refusal, Step};
use crate::report::Rule;
use crate::schema::ReleaseEntry;
use crate::verify::Verified;

/// Step 7: the bundle passes a node's checks (manifest signature, artifact digests, …), is
/// `package` at the release's version, is signed by the signer the index lists and, once one is
/// pinned for the package, by that signer. A first signer is pinned with a note.
pub(super) fn verify(
    download: &Download,
    package: &str,
    release: &ReleaseEntry,
    pins: &Pins,
    notes: &mut Vec<String>,
) -> Step<Verified> {
    let report =
        crate::verify::verify_file(download.path(), &release.bundle.path, &Default::default());
    if report.problems.iter().any(|p| p.rule == Rule::Io) {
        return Err(anyhow!(
            "cannot read back the downloaded bundle: {}",
            problems(&report.problems)
        )
        .into());
    }
    let ok = report.ok();
    let Some(bundle) = report.bundle.filter(|_| ok) else {
        return Err(Refusal::BundleRefused {
            path: release.bundle.path.clone(),
            problems: report.problems,
        }
        .into());
    };
    if bundle.package != package || bundle.app_version != release.version {
        return Err(Refusal::BundleIdentity {
            path: release.bundle.path.clone(),
            package: package.to_owned(),
            version: release.version.clone(),
            got_package: bundle.package,
            got_version: bundle.app_version,
        }
        .into());
    }
    if bundle.signer_id != release.signer_id {
        return Err(Refusal::BundleSigner {
            package: package.to_owned(),
            version: release.version.clone(),
            signer: bundle.signer_id,
            listed: release.signer_id.clone(),
        }
        .into());
    }
    match pins.pinned.packages.get(package) {
        Some(pin) if pin.signer_id != bundle.signer_id => Err(Refusal::SignerChanged {
            package: package.to_owned(),
            version: release.version.clone(),
            pinned: pin.signer_id.clone(),
            pinned_at: pin.pinned_at.clone(),
            got: bundle.signer_id,
            registry: pins.registry.clone(),
            state: pins.file.clone(),
        }
        .into()),
        Some(_) => Ok(bundle),
        None => {
            notes.push(format!(
                "pinned signer {} for {package} on first use; later versions must be signed by it",
                bundle.signer_id
            ));
            Ok(bundle)
        }
    }
}
