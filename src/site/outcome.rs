//! What a build says about itself: the reports of refused and warned files and a summary line
//! on standard output, notes for the person running it on standard error.

use std::path::Path;

use super::Outcome;

impl Outcome {
    /// Every refused or warned file with its problems, then what happened to the site at
    /// `out` (with `verbose`, how many bundles were verified).
    pub fn to_text(&self, out: &Path, verbose: bool) -> String {
        let mut text: String = self
            .refused
            .iter()
            .chain(&self.warnings)
            .map(|r| r.to_text())
            .collect();
        let out = out.display();
        if verbose && self.up_to_date {
            text.push_str(&format!(
                "{} bundle(s): 0 verified ({} identified by git's index, {} read to be identified); inputs unchanged since the site at {out} was built\n",
                self.bundles, self.identified_by_git, self.named_by_reading
            ));
        } else if verbose {
            text.push_str(&format!(
                "{} bundle(s): {} verified, {} from the cache ({} identified by git's index, {} read to be identified)\n",
                self.bundles,
                self.verified,
                self.bundles - self.verified,
                self.identified_by_git,
                self.named_by_reading
            ));
        }
        text.push_str(&if self.held_back {
            format!("warnings are errors (--strict); nothing was written ({out} is unchanged)\n")
        } else if self.up_to_date {
            format!(
                "up to date {out}: {} apps, {} bundles (nothing changed since it was built; --no-cache rebuilds)\n",
                self.apps, self.bundles
            )
        } else if self.refused.is_empty() {
            format!("built {out}: {} apps, {} bundles\n", self.apps, self.bundles)
        } else {
            format!(
                "refused {} file(s); nothing was written ({out} is unchanged)\n",
                self.refused.len()
            )
        });
        text
    }

    /// Warnings about the cache and the source, and bundles left out because git does not
    /// track them or ignores them.
    pub fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self
            .cache_warnings
            .iter()
            .chain(&self.build_warnings)
            .map(|w| format!("warning: {w}"))
            .collect();
        if !self.untracked.is_empty() {
            notes.push(format!(
                "note: {} bundle(s) not tracked by git were left out (git add them to publish): {}",
                self.untracked.len(),
                self.untracked.join(", ")
            ));
        }
        if self.no_base_url {
            notes.push(
                "note: registry.toml has no base_url: the feed's links are relative, no sitemap.xml is written, and app pages cannot give an install URL; set it to the address the site is served at".to_owned(),
            );
        }
        if !self.ignored.is_empty() {
            notes.push(format!(
                "note: {} bundle(s) ignored by git (.gitignore) were left out: {}",
                self.ignored.len(),
                self.ignored.join(", ")
            ));
        }
        notes
    }
}
