//! `--format markdown`: the verdict and a table of checks, for a PR comment
//! or a CI step summary (`$GITHUB_STEP_SUMMARY`). Each check that did not
//! pass gets a folded block with its requests and log.
//!
//! Guest text is untrusted: in table cells every character Markdown or HTML
//! would act on is escaped, and the folded blocks are code blocks fenced
//! longer than any run of backticks they hold. Outside code, an `@` is
//! followed by a zero-width space, so that a policy cannot mention (and
//! notify) a GitHub user or team from a PR comment.

use std::io::Write;

use super::{CheckReport, Outcome, RunReport};
use crate::units::format_duration;
use crate::verdict::Decision;

pub fn write(report: &RunReport, out: &mut impl Write) -> std::io::Result<()> {
    let (icon, word) = match report.verdict.decision {
        Decision::Pass => ("✅", "PASS"),
        Decision::Fail => ("❌", "FAIL"),
        Decision::Inconclusive => ("❔", "INCONCLUSIVE"),
    };
    let policies: Vec<String> = report
        .policies
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    writeln!(
        out,
        "### {icon} gate: {word} (exit {})",
        report.verdict.exit_code
    )?;
    writeln!(out)?;
    writeln!(out, "{}", cell(&report.verdict.reason))?;
    writeln!(out)?;
    let release = report
        .release
        .as_ref()
        .map_or_else(String::new, |r| format!(" · release {}", code(&r.id)));
    writeln!(
        out,
        "{} · env {} · target {}{release} · {}",
        cell(&policies.join(", ")),
        code(&report.env),
        code(report.target.as_deref().unwrap_or("(none)")),
        cell(&report.summary())
    )?;
    writeln!(out)?;
    writeln!(out, "| | check | outcome | time | details |")?;
    writeln!(out, "| --- | --- | --- | ---: | --- |")?;
    for (policy, check) in report.checks() {
        let mut details = vec![cell(&check.message)];
        if check.troubled() {
            details.extend(check.measurements.iter().map(|m| cell(&m.describe())));
        }
        let blocking = if check.blocking {
            ""
        } else {
            " (non-blocking)"
        };
        writeln!(
            out,
            "| {} | {} | {}{blocking} | {} | {} |",
            icon_of(check.outcome),
            cell(&format!("{}/{}", policy.name, check.name)),
            check.outcome,
            time(check),
            details.join("<br>")
        )?;
    }
    for (policy, check) in report.checks().filter(|(_, c)| c.troubled()) {
        let text = format!("{}{}", check.evidence(), check.log_text());
        if text.is_empty() {
            continue;
        }
        let fence = "`".repeat(longest_backtick_run(&text).max(2) + 1);
        writeln!(out)?;
        // An HTML block: CommonMark leaves its text as it is, so Markdown
        // escapes would show; HTML escapes are what it reads.
        writeln!(
            out,
            "<details><summary>{}: requests and log</summary>",
            html(&format!("{}/{}", policy.name, check.name))
        )?;
        writeln!(out)?;
        writeln!(out, "{fence}text")?;
        write!(out, "{text}")?;
        writeln!(out, "{fence}")?;
        writeln!(out)?;
        writeln!(out, "</details>")?;
    }
    Ok(())
}

fn icon_of(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "✅",
        Outcome::Warn => "⚠️",
        Outcome::Fail | Outcome::Error => "❌",
        Outcome::Inconclusive => "❔",
        Outcome::Skipped => "⏭️",
    }
}

fn time(check: &CheckReport) -> String {
    if check.outcome == Outcome::Skipped {
        return "-".into();
    }
    format_duration(std::time::Duration::from_secs_f64(
        check.duration_ms.max(0.0) / 1000.0,
    ))
}

/// Breaks `@name` apart for GitHub, which finds mentions in the rendered
/// text, where a Markdown escape (`\@name`) is gone again: a zero-width space
/// after the `@`, as Renovate writes its release notes.
const AT: &str = "@&#8203;";
/// `#123` and `owner/repo#123` broken apart the same way: a reference in a
/// PR comment would add a "mentioned this" to that issue's timeline.
const HASH: &str = "#&#8203;";

/// Breaks the URLs GitHub would link by itself (`https://…`, `www.…`):
/// a report names what a policy measured, not where a reader should go.
fn unlinked(escaped: String) -> String {
    escaped
        .replace("://", ":&#8203;//")
        .replace("www.", "www&#8203;.")
        .replace("GH-", "GH&#8203;-")
}

/// Text safe in a table cell: Markdown and HTML punctuation escaped, lines
/// joined with `<br>`.
fn cell(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for (index, line) in text.lines().enumerate() {
        if index > 0 {
            escaped.push_str("<br>");
        }
        for c in line.chars() {
            match c {
                '&' => escaped.push_str("&amp;"),
                '<' => escaped.push_str("&lt;"),
                '>' => escaped.push_str("&gt;"),
                '@' => escaped.push_str(AT),
                '#' => escaped.push_str(HASH),
                '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '|' | '~' | '!' => {
                    escaped.push('\\');
                    escaped.push(c);
                }
                c => escaped.push(c),
            }
        }
    }
    unlinked(escaped)
}

/// Text safe inside an HTML element: `&`, `<`, `>` and quotes as entities.
fn html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '@' => escaped.push_str(AT),
            '#' => escaped.push_str(HASH),
            c => escaped.push(c),
        }
    }
    unlinked(escaped)
}

/// Inline code that cannot be closed early by the text it holds.
fn code(text: &str) -> String {
    let ticks = "`".repeat(longest_backtick_run(text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{}{pad}{ticks}", text.replace('\n', " "))
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    /// The folded block's summary is HTML, where a Markdown escape would
    /// show as a stray backslash (`my\_api`).
    #[test]
    fn summaries_are_escaped_as_html() {
        let mut report = crate::report::golden::fixture();
        report.policies[0].name = "my_api".into();
        report.policies[0].checks[2].name = "<b>*rate*</b>".into();
        let mut out = Vec::new();
        super::write(&report, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "<details><summary>my_api/&lt;b&gt;*rate*&lt;/b&gt;: requests and log</summary>"
            ),
            "{text}"
        );
        assert!(
            text.contains("<summary>my_api/slow: requests and log</summary>"),
            "{text}"
        );
    }

    #[test]
    fn guest_text_cannot_escape_its_cell() {
        let text = super::cell("a | b <img src=x> [x](http://evil) @team\nnext");
        assert_eq!(
            text,
            "a \\| b &lt;img src=x&gt; \\[x\\]\\(http:&#8203;//evil\\) @&#8203;team<br>next"
        );
        // No reference to another issue, no link GitHub would make itself.
        assert_eq!(
            super::cell("see #12 and octo/repo#3 at https://x.example or www.x.example"),
            "see #&#8203;12 and octo/repo#&#8203;3 at https:&#8203;//x.example or www&#8203;.x.example"
        );
        assert_eq!(super::cell("GH-12"), "GH&#8203;-12");
        assert_eq!(super::code("a`b"), "``a`b``");
        assert_eq!(
            super::html("my_api/*x* <b>&\"'"),
            "my_api/*x* &lt;b&gt;&amp;&quot;&#39;"
        );
        assert_eq!(super::html("@octo/team"), "@&#8203;octo/team");
        assert_eq!(
            super::html("octo/repo#3 https://x"),
            "octo/repo#&#8203;3 https:&#8203;//x"
        );
        assert_eq!(super::longest_backtick_run("x ``` y ` z"), 3);
    }
}
