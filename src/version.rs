//! Version order (spec §4): semver precedence, semver above anything else, the rest as strings.

use std::cmp::Ordering;

/// Compares two `appVersion`s; `Ordering::Greater` means `a` is newer.
pub fn compare(a: &str, b: &str) -> Ordering {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a.cmp_precedence(&b),
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Ok(_)) => Ordering::Less,
        (Err(_), Err(_)) => a.cmp(b),
    }
    // Equal precedence with different spellings cannot both be published (same path rules),
    // but keep the order total and stable anyway.
    .then_with(|| a.cmp(b))
}

/// Whether a version is a prerelease (or not semver at all), which `latest` skips when asked.
pub fn is_prerelease(v: &str) -> bool {
    semver::Version::parse(v).map_or(true, |v| !v.pre.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_follows_spec_order() {
        let mut versions = vec!["1.2.0", "banana", "1.10.0", "1.10.0-rc.1", "apple", "0.9.0"];
        versions.sort_by(|a, b| compare(b, a));
        assert_eq!(
            versions,
            ["1.10.0", "1.10.0-rc.1", "1.2.0", "0.9.0", "banana", "apple"]
        );
    }

    #[test]
    fn prerelease_and_non_semver_are_not_stable() {
        assert!(is_prerelease("2.0.0-rc.1"));
        assert!(is_prerelease("nightly"));
        assert!(!is_prerelease("2.0.0"));
    }
}
