//! What `check` prints: text for people, JSON for scripts, GitHub workflow commands for
//! annotations on the pull request, and a Markdown summary table.

use std::borrow::Cow;

use super::{ChangeKind, CheckOutcome};
use crate::report::escape_controls;
use crate::verify;

/// `--format text`.
pub fn to_text(outcome: &CheckOutcome) -> String {
    let mut out = String::new();
    for p in &outcome.problems {
        out.push_str(&format!(
            "REFUSED  the change: error[{}] {}: {}\n    fix: {}\n",
            p.rule.code(),
            escape_controls(&p.subject),
            escape_controls(&p.message),
            p.hint
        ));
    }
    for change in &outcome.changes {
        let kind = match change.kind {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
            ChangeKind::Unchanged => "unchanged",
        };
        // Always a space after the kind, however long ("unchanged" is nine letters).
        out.push_str(&format!("{kind:<8} "));
        out.push_str(&change.report.to_text());
    }
    let refused = outcome.changes.iter().filter(|c| !c.report.ok()).count();
    let unchanged = outcome
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Unchanged)
        .count();
    let also = match unchanged {
        0 => String::new(),
        n => format!(" and {n} unchanged file(s) with problems"),
    };
    out.push_str(&format!(
        "{} changed file(s){also} since {}: {} refused\n",
        outcome.changes.len() - unchanged,
        escape_controls(&outcome.base),
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
        "problems": outcome.problems,
        "changes": outcome.changes,
    });
    serde_json::to_string_pretty(&doc).expect("reports serialize")
}

/// `--format github`: workflow commands that annotate each file in the pull request, then the
/// text report, made inert: the only commands in the output are the annotations written here.
pub fn to_github(outcome: &CheckOutcome) -> String {
    let mut out = String::new();
    for p in &outcome.problems {
        let title = format!("{} ({})", p.rule.code(), escape_controls(&p.subject));
        out.push_str(&format!(
            "::error title={}::{}\n",
            escape_property(&title),
            escape_data(&format!("{}. Fix: {}", p.message, p.hint)),
        ));
    }
    for change in &outcome.changes {
        let file = &change.path;
        for (level, list) in [
            ("error", &change.report.problems),
            ("warning", &change.report.warnings),
        ] {
            for p in list {
                // `file` must name the file exactly; title and message are for people.
                let title = format!("{} ({})", p.rule.code(), escape_controls(&p.subject));
                out.push_str(&format!(
                    "::{level} file={},title={}::{}\n",
                    escape_property(file),
                    escape_property(&title),
                    escape_data(&format!("{}. Fix: {}", p.message, p.hint)),
                ));
            }
        }
    }
    for line in to_text(outcome).lines() {
        out.push_str(&inert(line));
        out.push('\n');
    }
    out
}

/// A line of the text report that the Actions runner cannot take for a command. The runner
/// runs `::command::` at the start of a line (after white space) and the older `##[command]`
/// anywhere in one. Control characters are already escaped, so every line of the report
/// starts with our own words; this guards the rest.
fn inert(line: &str) -> Cow<'_, str> {
    let mut line = Cow::Borrowed(line);
    if line.contains("##[") {
        line = Cow::Owned(line.replace("##[", "##%5B"));
    }
    if line.trim_start().starts_with("::") {
        line = Cow::Owned(format!("> {line}"));
    }
    line
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
        let verdict = if r.ok() { "✅ ok" } else { "❌ refused" };
        let reason = r
            .problems
            .iter()
            .chain(&r.warnings)
            .map(|p| format!("`{}` {}", p.rule.code(), cell(&p.message)))
            .collect::<Vec<_>>()
            .join("<br>");
        out.push_str(&format!(
            "| {} | {} | {} | {} | {verdict} | {} |\n",
            cell(&change.file),
            cell(&package),
            cell(&version),
            cell(&signer),
            reason
        ));
    }
    out
}

/// Text for one cell of a Markdown table, inert: control characters escaped, nothing that
/// could end the cell or open HTML, and every other ASCII punctuation character escaped with a
/// backslash, so text from a bundle renders as the characters it is and never as a link, an
/// image, emphasis or code (`[x](url)`, `![x](url)`, `<url>`). A backslash also breaks the
/// autolinks GitHub finds in plain text: `https\://`, `www\.` and `a\@b` are not links.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in escape_controls(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The message of a workflow command, as GitHub escapes it: `%`, CR and LF percent-encoded
/// (so a message may span lines in the annotation). The runner passes other control
/// characters through, so they are escaped as in [`escape_controls`].
fn escape_data(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c if c.is_control() => out.extend(c.escape_debug()),
            c => out.push(c),
        }
    }
    out
}

/// A property of a workflow command (`file=`, `title=`), as GitHub escapes it: `%`, CR, LF,
/// `:` and `,`. Nothing else changes, so `file=` names the file exactly.
fn escape_property(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
        .replace(':', "%3A")
        .replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Change;
    use crate::report::{Problem, Rule};
    use crate::verify::Report;

    /// An outcome with one change per `(file, problems)`, all added.
    fn outcome(files: &[(&str, Vec<Problem>)]) -> CheckOutcome {
        CheckOutcome {
            base: "main".into(),
            problems: Vec::new(),
            changes: files
                .iter()
                .map(|(file, problems)| Change {
                    file: (*file).to_owned(),
                    path: format!("registry-src/{file}"),
                    kind: ChangeKind::Added,
                    report: Report::for_file(file, problems.clone()),
                })
                .collect(),
        }
    }

    /// A change whose name and problem try every way into a workflow command.
    fn hostile() -> CheckOutcome {
        let name = "x/a\n::error file=x::injected\r\n::stop-commands::tok\n  ::warning::w ##[error]old\u{1b}[2J";
        let problem = Problem::new(
            Rule::FileName,
            name,
            format!("{name} is misplaced\n::add-mask::secret"),
        );
        outcome(&[(name, vec![problem])])
    }

    #[test]
    fn control_characters_are_escaped_and_the_rest_is_kept() {
        let plain = "plain ünïcödé ✓ \\ \"q\" ##[ ::";
        assert_eq!(escape_controls(plain), plain);
        assert!(matches!(escape_controls(plain), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\nb\r\tc\0d\u{1b}[2Je\u{7f}f\u{85}g\u{9b}"),
            "a\\nb\\r\\tc\\0d\\u{1b}[2Je\\u{7f}f\\u{85}g\\u{9b}"
        );
    }

    #[test]
    fn workflow_command_escaping_follows_github() {
        // Properties: %, CR, LF, ':' and ','; nothing else, so `file=` stays exact.
        assert_eq!(
            escape_property("50%\r\na:b,c=d\te"),
            "50%25%0D%0Aa%3Ab%2Cc=d\te"
        );
        // Data: %, CR and LF; ':' and ',' are fine there; other controls are escaped.
        assert_eq!(
            escape_data("50%\r\na:b,c::d\u{1b}[31m"),
            "50%25%0D%0Aa:b,c::d\\u{1b}[31m"
        );
        // '%' first: an escape already in the text is not decoded by the runner.
        assert_eq!(escape_data("%0A"), "%250A");
        assert_eq!(escape_property("%3A"), "%253A");
    }

    #[test]
    fn github_output_has_no_command_but_its_annotations() {
        let out = to_github(&hostile());
        let annotations: Vec<&str> = out.lines().filter(|l| l.starts_with("::")).collect();
        assert_eq!(annotations.len(), 1, "{out}");
        assert!(
            annotations[0].starts_with(
                "::error file=registry-src/x/a%0A%3A%3Aerror file=x%3A%3Ainjected%0D%0A%3A%3Astop-commands%3A%3Atok%0A  %3A%3Awarning%3A%3Aw ##[error]old\u{1b}[2J,title=policy.file-name (x/a\\n%3A%3Aerror file=x%3A%3Ainjected\\r\\n"
            ),
            "{out}"
        );
        // The message keeps its line break, encoded; the runner stops at the first "::".
        assert!(
            annotations[0].contains("misplaced%0A::add-mask::secret. Fix: "),
            "{out}"
        );
        for line in out.lines().skip(1) {
            assert!(!line.trim_start().starts_with("::"), "{line:?} in\n{out}");
            assert!(!line.contains("##["), "{line:?} in\n{out}");
            assert!(!line.contains('\u{1b}'), "{line:?} in\n{out}");
        }
        assert!(
            out.ends_with("1 changed file(s) since main: 1 refused\n"),
            "{out}"
        );
    }

    #[test]
    fn inert_lines_stay_as_they_are_unless_they_could_be_commands() {
        assert_eq!(inert("added    ok       x.mpk"), "added    ok       x.mpk");
        assert!(matches!(inert("plain"), Cow::Borrowed(_)));
        assert_eq!(inert("::error::x"), "> ::error::x");
        assert_eq!(inert(" \u{3000}::error::x"), ">  \u{3000}::error::x");
        assert_eq!(inert("name ##[warning]x"), "name ##%5Bwarning]x");
    }

    #[test]
    fn text_output_escapes_names_subjects_and_messages() {
        let text = to_text(&hostile());
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(
            text.starts_with("added    REFUSED  x/a\\n::error file=x::injected\\r\\n::stop-commands::tok\\n  ::warning::w ##[error]old\\u{1b}[2J: 1 problem(s)\n"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "{text}");
        let verify_text = hostile().changes[0].report.to_text();
        assert_eq!(verify_text.lines().count(), 3, "{verify_text}");
        assert!(
            verify_text.contains("is misplaced\\n::add-mask::secret\n"),
            "{verify_text}"
        );
    }

    #[test]
    fn an_accepted_file_that_is_not_a_bundle_reads_ok() {
        let report = Report::for_file("registry-src/x/package.toml", Vec::new());
        assert_eq!(report.to_text(), "ok       registry-src/x/package.toml\n");
        let text = to_text(&outcome(&[("x/package.toml", Vec::new())]));
        assert_eq!(
            text,
            "added    ok       x/package.toml\n1 changed file(s) since main: 0 refused\n"
        );
        // With a problem it is refused, as before.
        let refused = Report::for_file(
            "x/package.toml",
            vec![Problem::new(Rule::Settings, "x/package.toml", "bad")],
        );
        assert!(refused
            .to_text()
            .starts_with("REFUSED  x/package.toml: 1 problem(s)\n"));
    }

    #[test]
    fn an_unchanged_file_with_a_problem_is_set_apart_and_not_counted_as_changed() {
        let mut outcome = outcome(&[
            ("x/package.toml", Vec::new()),
            (
                "y/package.toml",
                vec![Problem::new(Rule::PackageConfig, "y/package.toml", "bad")],
            ),
        ]);
        outcome.changes[1].kind = ChangeKind::Unchanged;
        let text = to_text(&outcome);
        assert!(
            text.contains("\nunchanged REFUSED  y/package.toml: 1 problem(s)\n"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "1 changed file(s) and 1 unchanged file(s) with problems since main: 1 refused\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn summary_cells_cannot_end_early_or_open_html() {
        let file = "a|b\\|c<img src=x>&\n| forged | row |";
        let problem = Problem::new(Rule::Settings, file, "bad | <b>bold</b>\nnext");
        let md = summary_markdown(&outcome(&[(file, vec![problem])]));
        let rows: Vec<&str> = md.lines().skip(4).collect();
        assert_eq!(rows.len(), 1, "{md}");
        let row = rows[0];
        assert!(
            row.starts_with("| a\\|b\\\\\\|c&lt;img src\\=x&gt;&amp;\\\\n\\| forged \\| row \\| |"),
            "{row}"
        );
        assert!(
            row.ends_with("| `policy.settings` bad \\| &lt;b&gt;bold&lt;\\/b&gt;\\\\nnext |"),
            "{row}"
        );
        // Seven cell borders: every other '|' is escaped (an odd run of backslashes before it).
        let bytes = row.as_bytes();
        let borders = (0..bytes.len())
            .filter(|&i| bytes[i] == b'|')
            .filter(|&i| bytes[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0)
            .count();
        assert_eq!(borders, 7, "{row}");
        assert!(!row.contains('<') && !row.contains('>'), "{row}");
    }

    #[test]
    fn summary_cells_hold_no_link_image_or_autolink() {
        assert_eq!(
            cell("![i](https://e.vil/i.png) [a](b) <c@d.e> www.e.vil _x_ `y`"),
            "\\!\\[i\\]\\(https\\:\\/\\/e\\.vil\\/i\\.png\\) \\[a\\]\\(b\\) &lt;c\\@d\\.e&gt; www\\.e\\.vil \\_x\\_ \\`y\\`"
        );
        assert_eq!(cell("ünïcödé 1"), "ünïcödé 1");
    }
}
