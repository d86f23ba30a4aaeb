//! Guest text is untrusted: secrets are redacted from it, and terminal
//! control sequences and CI log commands are neutralised, before anything is
//! written.

/// What replaces a secret's value in every output.
pub const REDACTED: &str = "[REDACTED]";

/// Redacts known secret values and escapes control characters.
#[derive(Debug, Clone, Default)]
pub struct Cleaner {
    /// Longest first, so a secret that contains another is replaced whole.
    secrets: Vec<String>,
}

impl Cleaner {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// Redacts, then neutralises control characters (newlines and tabs kept)
    /// and CI log commands ([`printable`]).
    pub fn clean(&self, text: &str) -> String {
        printable(&self.redact(text))
    }

    /// Like [`Cleaner::clean`] but for one line: newlines are escaped too.
    pub fn clean_line(&self, text: &str) -> String {
        self.clean(text).replace('\n', "\\n")
    }

    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
        }
        text
    }

    /// [`Cleaner::redact`] of bytes that need not be text (a binary body):
    /// each secret's bytes become `[REDACTED]`'s.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut bytes = bytes.to_vec();
        for secret in self.secrets.iter().map(String::as_bytes) {
            if secret.is_empty() {
                continue;
            }
            let mut out = Vec::with_capacity(bytes.len());
            let mut rest = bytes.as_slice();
            while let Some(at) = rest.windows(secret.len()).position(|w| w == secret) {
                out.extend_from_slice(&rest[..at]);
                out.extend_from_slice(REDACTED.as_bytes());
                rest = &rest[at + secret.len()..];
            }
            out.extend_from_slice(rest);
            bytes = out;
        }
        bytes
    }
}

/// Text from outside gate (a policy, a fixture) made safe to print on a
/// terminal or in a CI log: [`escape_controls`], then [`defuse_commands`].
pub fn printable(text: &str) -> String {
    defuse_commands(&escape_controls(text))
}

/// Replaces every control character but `\n` and `\t` (ESC, BEL, CR, C1
/// controls, DEL) by a visible escape, so guest text can never drive the
/// terminal (colours, titles, cursor moves, hyperlinks); and U+FFFE and
/// U+FFFF too, which XML 1.0 and YAML do not allow anywhere, so that a JUnit
/// or TAP report holding them would not parse.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') => {
                out.extend(c.escape_default())
            }
            c => out.push(c),
        }
    }
    out
}

/// Breaks the CI log commands text could hold with a visible backslash, so
/// that text from a policy printed in a CI log stays text:
/// - a line whose first non-blank characters are `::` gets `\` before them
///   (`\::error::…`): GitHub Actions' runner trims a line's leading
///   whitespace and runs what starts with `::` as a workflow command
///   (`::error::`, `::add-mask::`, `::stop-commands::`);
/// - `##[` and `##vso[` anywhere become `##\[` and `##vso\[`: the runner
///   still reads its legacy `##[command]` form, and Azure Pipelines its
///   `##vso[…]` logging commands, anywhere in a line.
///
/// gate's own `::error`/`::warning` annotations are written apart, after
/// this; the result holds none of these forms, so applying it again changes
/// nothing.
pub fn defuse_commands(text: &str) -> String {
    let text = text.replace("##[", "##\\[").replace("##vso[", "##vso\\[");
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let rest = line.trim_start();
        if rest.starts_with("::") {
            out.push_str(&line[..line.len() - rest.len()]);
            out.push('\\');
            out.push_str(rest);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Cuts `text` to at most `max` bytes on a char boundary, saying so.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} more bytes cut]", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_longest_first() {
        let cleaner = Cleaner::new(["abc".to_owned(), "abcdef".to_owned(), String::new()]);
        assert_eq!(cleaner.clean("x abcdef y abc"), "x [REDACTED] y [REDACTED]");
    }

    #[test]
    fn neutralises_escapes() {
        let cleaner = Cleaner::default();
        let cleaned = cleaner.clean("\u{1b}[31mred\u{1b}[0m\u{1b}]0;title\u{7}\r\nok\tfine");
        assert!(!cleaned.contains('\u{1b}'));
        assert!(!cleaned.contains('\u{7}'));
        assert!(!cleaned.contains('\r'));
        assert!(cleaned.contains("\\u{1b}[31mred"));
        assert!(cleaned.ends_with("\nok\tfine"));
        assert_eq!(cleaner.clean_line("a\nb"), "a\\nb");
    }

    #[test]
    fn escapes_what_xml_and_yaml_do_not_allow() {
        let cleaned = Cleaner::default().clean("a\u{fffe}b\u{ffff}c\u{fffd}");
        assert_eq!(cleaned, "a\\u{fffe}b\\u{ffff}c\u{fffd}");
    }

    #[test]
    fn defuses_ci_log_commands() {
        let cleaner = Cleaner::default();
        assert_eq!(
            cleaner.clean("x\n::error::forged\n \t::add-mask::tok\nok :: fine"),
            "x\n\\::error::forged\n \t\\::add-mask::tok\nok :: fine"
        );
        // A message's first line too: a report may start a line with it.
        assert_eq!(cleaner.clean("::stop-commands::t"), "\\::stop-commands::t");
        assert_eq!(
            cleaner.clean_line("a ##[error]x ##vso[task.complete result=Succeeded]\n::x"),
            "a ##\\[error]x ##vso\\[task.complete result=Succeeded]\\n\\::x"
        );
        // Defused text stays as it is.
        let once = cleaner.clean("::a\n##[b ##vso[c");
        assert_eq!(cleaner.clean(&once), once);
        // A secret is redacted before: `[REDACTED]` cannot open `##[`.
        let cleaner = Cleaner::new(["s3cret".to_owned()]);
        assert_eq!(cleaner.clean("##s3cret"), "##\\[REDACTED]");
    }

    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(truncate("short", 10), "short");
        let cut = truncate("ééé", 3);
        assert_eq!(cut, "é… [4 more bytes cut]");
    }
}
