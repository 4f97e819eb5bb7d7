//! What `check` prints: text for people, JSON for scripts, GitHub workflow commands for
//! annotations on the pull request, and a Markdown summary table.

use super::{ChangeKind, CheckOutcome};
use crate::verify;

/// `--format text`.
pub fn to_text(outcome: &CheckOutcome) -> String {
    let mut out = String::new();
    for change in &outcome.changes {
        let kind = match change.kind {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
        };
        out.push_str(&format!("{kind:<9}"));
        out.push_str(&change.report.to_text());
    }
    let refused = outcome.changes.iter().filter(|c| !c.report.ok).count();
    out.push_str(&format!(
        "{} changed file(s) since {}: {} refused\n",
        outcome.changes.len(),
        outcome.base,
        refused
    ));
    out
}

/// `--format json`.
pub fn to_json(outcome: &CheckOutcome) -> String {
    let doc = serde_json::json!({
        "schemaVersion": verify::REPORT_SCHEMA_VERSION,
        "base": outcome.base,
        "ok": !outcome.refused(),
        "changes": outcome.changes,
    });
    serde_json::to_string_pretty(&doc).expect("reports serialize")
}

/// `--format github`: workflow commands that annotate each file in the pull request.
pub fn to_github(outcome: &CheckOutcome) -> String {
    let mut out = String::new();
    for change in &outcome.changes {
        let file = format!("{}{}", outcome.prefix, change.file);
        for (level, list) in [
            ("error", &change.report.problems),
            ("warning", &change.report.warnings),
        ] {
            for p in list {
                out.push_str(&format!(
                    "::{level} file={},title={}::{}\n",
                    escape_property(&file),
                    escape_property(&format!("{} ({})", p.rule.code(), p.subject)),
                    escape_data(&format!("{}. Fix: {}", p.message, p.hint)),
                ));
            }
        }
    }
    out.push_str(&to_text(outcome));
    out
}

/// A Markdown table for `$GITHUB_STEP_SUMMARY`: each changed file, version, signer, verdict.
pub fn summary_markdown(outcome: &CheckOutcome) -> String {
    let mut out = String::from("### mpk-registry check\n\n| file | package | version | signer | verdict | reason |\n|---|---|---|---|---|---|\n");
    for change in &outcome.changes {
        let r = &change.report;
        let (package, version, signer) = match (&r.bundle, &r.manifest) {
            (Some(b), _) => (
                b.package.clone(),
                b.app_version.clone(),
                b.signer_id.clone(),
            ),
            (None, Some(m)) => {
                let field = |k: &str| m.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
                (field("package"), field("appVersion"), field("signerId"))
            }
            (None, None) => Default::default(),
        };
        let verdict = if r.ok { "✅ ok" } else { "❌ refused" };
        let reason = r
            .problems
            .iter()
            .chain(&r.warnings)
            .map(|p| format!("`{}` {}", p.rule.code(), p.message))
            .collect::<Vec<_>>()
            .join("<br>");
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        out.push_str(&format!(
            "| {} | {} | {} | {} | {verdict} | {} |\n",
            cell(&change.file),
            cell(&package),
            cell(&version),
            cell(&signer),
            cell(&reason)
        ));
    }
    out
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
