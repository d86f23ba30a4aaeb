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

    /// The values redacted, longest first: text cut to a limit is cut clear
    /// of them ([`shorten`]), so that the cleaner still recognises them.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
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

    /// A URL as gate shows it: its password, if any, is `[REDACTED]` whatever
    /// it is, and a secret is redacted in the URL as written or as its
    /// percent-encoding spells it (`ab%2Fc` for `ab/c` in credentials, a
    /// token encoded by hand in a query). Decoded only where that finds a
    /// secret, so that other URLs show as they were given.
    pub fn redact_url(&self, url: &url::Url) -> String {
        let mut shown = url.as_str().to_owned();
        if let Some(password) = url.password() {
            shown = shown.replacen(&format!(":{password}@"), &format!(":{REDACTED}@"), 1);
        }
        let redacted = self.redact(&shown);
        let decoded = percent_encoding::percent_decode_str(&redacted).decode_utf8_lossy();
        let decoded_redacted = self.redact(&decoded);
        if decoded_redacted != decoded {
            decoded_redacted
        } else {
            redacted
        }
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

/// Text from a file anyone may edit (a decision log) as part of one line
/// of a table: [`printable`], and its line breaks and tabs written `\n` and
/// `\t`, so that it cannot forge another line or column either.
pub fn one_line(text: &str) -> String {
    printable(text).replace('\n', "\\n").replace('\t', "\\t")
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
    let end = char_floor(text, max);
    format!("{}… [{} more bytes cut]", &text[..end], text.len() - end)
}

/// The largest char boundary of `text` at most `max`.
fn char_floor(text: &str, max: usize) -> usize {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// `text` cut to at most `max` bytes, with an ellipsis and its whole length,
/// so that a reader knows it was longer and by how much. The cut never runs
/// through one of `secrets`: one it would is left out whole, since the part
/// before the cut would no longer be recognised, and so redacted, as a
/// secret.
pub fn shorten(text: &str, max: usize, secrets: &[String]) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let end = clear_cut(text, max, secrets);
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// The largest char boundary at most `max` where no occurrence of one of
/// `secrets` starts before and ends after.
fn clear_cut(text: &str, max: usize, secrets: &[String]) -> usize {
    let bytes = text.as_bytes();
    let mut end = char_floor(text, max);
    loop {
        // Only the bytes around the cut can hold a secret it runs through.
        let straddling = secrets
            .iter()
            .filter(|s| s.len() > 1)
            .filter_map(|secret| {
                let secret = secret.as_bytes();
                let from = end.saturating_sub(secret.len() - 1);
                (from..end).find(|&at| bytes[at..].starts_with(secret) && at + secret.len() > end)
            })
            .min();
        // A match starts where the secret's first char does: a boundary.
        match straddling {
            Some(at) => end = at,
            None => return end,
        }
    }
}

/// The length of the longest end of `bytes` that is the start of one of
/// `secrets` (but not all of it), 0 if none.
pub fn secret_start_at_end(bytes: &[u8], secrets: &[String]) -> usize {
    secrets
        .iter()
        .filter_map(|secret| {
            let secret = secret.as_bytes();
            (1..secret.len())
                .rev()
                .find(|&len| bytes.ends_with(&secret[..len]))
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_passwords_and_secrets_however_encoded() {
        let cleaner = Cleaner::new(["ab/c=".to_owned(), "tok+en".to_owned()]);
        let url = |text: &str| url::Url::parse(text).unwrap();
        // The url crate writes `ab/c=` in credentials as `ab%2Fc%3D`.
        assert_eq!(
            cleaner.redact_url(&url("https://me:ab%2Fc%3D@stage.example/")),
            "https://me:[REDACTED]@stage.example/"
        );
        assert_eq!(
            cleaner.redact_url(&url("https://me:not-a-known-secret@stage.example/")),
            "https://me:[REDACTED]@stage.example/"
        );
        assert_eq!(
            cleaner.redact_url(&url("https://stage.example/?key=tok%2Ben")),
            "https://stage.example/?key=[REDACTED]"
        );
        // Nothing secret: shown as given, encoding and all.
        assert_eq!(
            cleaner.redact_url(&url("https://stage.example/a%20b?q=1")),
            "https://stage.example/a%20b?q=1"
        );
    }

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

    #[test]
    fn shorten_says_how_long_the_text_was() {
        assert_eq!(shorten("short", 10, &[]), "short");
        let long = format!("http://[{}", "x".repeat(100));
        assert_eq!(shorten(&long, 10, &[]), "http://[xx… (108 bytes in all)");
        // Never inside a char.
        assert_eq!(shorten("ééé", 3, &[]), "é… (6 bytes in all)");
    }

    #[test]
    fn shorten_never_cuts_through_a_secret() {
        let secrets = ["s3cr3t-token".to_owned(), "other".to_owned()];
        let text = "http://h/?token=s3cr3t-token&x=1";
        for max in 17..=27 {
            let cut = shorten(text, max, &secrets);
            assert_eq!(
                cut, "http://h/?token=… (32 bytes in all)",
                "a cut at {max} runs through the secret"
            );
        }
        // Past the secret, it is kept whole, for the cleaner to redact.
        assert!(shorten(text, 28, &secrets).starts_with("http://h/?token=s3cr3t-token"));
        // Secrets that overlap the cut in turn are all left out.
        let text = "aaaa-s3cr3t-tokenother-tail";
        let secrets = ["tokenother".to_owned(), "s3cr3t-token".to_owned()];
        assert_eq!(shorten(text, 20, &secrets), "aaaa-… (27 bytes in all)");
    }

    #[test]
    fn one_line_keeps_text_to_one_line_and_inert() {
        assert_eq!(
            one_line("prod\n2026-12-07  prod\trun\u{1b}[2J"),
            "prod\\n2026-12-07  prod\\trun\\u{1b}[2J"
        );
        // A CI log command at its start stays text.
        assert!(one_line("::add-mask::x").starts_with("\\::"));
    }
}
