//! Where a problem in gate.toml is: file, line, column and dotted key, so
//! every message points at the text to change.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// A place in the file: the key path (`env.stage.timeout`) and the 1-based
/// line and column of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub key: String,
    pub line: usize,
    pub column: usize,
}

impl Place {
    /// `top-level` or `env.NAME`: the table a setting was written in.
    pub fn table(&self) -> &str {
        match self.key.strip_prefix("env.") {
            Some(rest) => {
                let name_len = rest.find('.').unwrap_or(rest.len());
                &self.key[..4 + name_len]
            }
            None => "top-level",
        }
    }

    /// The setting the key is in, whichever table: `target` for
    /// `env.stage.target`, `allow_hosts` for `allow_hosts[1]`, `secrets`
    /// for `secrets.prometheus`.
    pub fn setting(&self) -> &str {
        let own = match self.key.strip_prefix("env.") {
            // An environment's name holds no `.`.
            Some(rest) => rest.split_once('.').map_or("", |(_, own)| own),
            None => &self.key,
        };
        own.split(['.', '[']).next().unwrap_or(own)
    }
}

/// Problems as reported: each once (one of the top level is every
/// environment's), in the file's order.
pub fn tidy(problems: &mut Vec<Diagnostic>) {
    let mut seen = std::collections::BTreeSet::new();
    problems.retain(|p| seen.insert(p.to_string()));
    problems.sort_by_key(|p| (p.place.line, p.place.column));
}

/// One problem in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub place: Place,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Place { key, line, column } = &self.place;
        write!(f, "{}:{line}:{column}: ", self.file)?;
        if !key.is_empty() {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The file's text and the name it is shown under, to turn byte offsets
/// into places.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: String,
    pub text: String,
}

impl Document {
    pub fn place(&self, span: &Range<usize>, key: impl Into<String>) -> Place {
        let (line, column) = line_column(&self.text, span.start);
        Place {
            key: key.into(),
            line,
            column,
        }
    }

    pub fn diagnostic(&self, place: Place, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            place,
            message: message.into(),
        }
    }

    /// A syntax or shape error from the TOML parser. Its own `Display` would
    /// quote the offending line, which may hold a secret someone pasted in,
    /// so only its message is used.
    pub fn toml_error(&self, error: &toml::de::Error) -> Diagnostic {
        let span = error.span().unwrap_or(0..0);
        let key = key_at(&self.text, span.start);
        let mut message = error.message().trim().replace('\n', "; ");
        // serde names Rust's types: the struct a table is read into
        // (`struct RawWatch`), the integer a count is (`i64`).
        if let Some((before, after)) = message.split_once("expected struct Raw") {
            let rest = after.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
            message = format!("{before}expected a table{rest}");
        }
        if let Some(before) = message.strip_suffix("expected i64") {
            message = format!("{before}expected a whole number");
        }
        // Inside `[env.NAME]` itself (whose list of keys is the top
        // level's, `default_env` among them), the keys only the top level
        // takes are no keys to suggest; a secret's own `env` key stays one.
        let settings_table = message.contains("`default_env`");
        let top_only: &[&str] = if key.starts_with("env.") && settings_table {
            &["default_env", "env"]
        } else {
            &[]
        };
        if let Some(shorter) = unknown_key_message(&message, top_only) {
            message = shorter;
        }
        // Only where the table was taken for an unknown key: a header
        // like `[env.stage.policies]` is a real key of the wrong shape.
        if error.message().starts_with("unknown field")
            && let Some(nested) = self.dotted_env_name(&key)
        {
            message = nested;
        }
        self.diagnostic(self.place(&span, key), message)
    }

    /// `[env.eu.prod]` is, to TOML, a table `prod` inside environment `eu`:
    /// what to say when that table is then an unknown key of `env.eu`.
    fn dotted_env_name(&self, key: &str) -> Option<String> {
        let mut parts = key.strip_prefix("env.")?.split('.');
        let (Some(env), Some(inner), None) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let header = format!("[env.{env}.{inner}]");
        let written = self
            .text
            .lines()
            .any(|l| l.trim_start().starts_with(&header));
        written.then(|| {
            format!(
                "`{header}` is a table `{inner}` inside environment `{env}` to TOML, which reads \
                 the dot as nesting: an environment's name cannot hold a `.` (name it \
                 `{env}-{inner}`)"
            )
        })
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The dotted key whose key or value holds `offset`, deepest first
/// (`env.stage.policies[1].sha256`); empty when none does.
pub fn key_at(text: &str, offset: usize) -> String {
    let (table, _) = DeTable::parse_recoverable(text);
    let mut path = Vec::new();
    find_in_table(table.get_ref(), offset, &mut path);
    path.join("").trim_start_matches('.').to_owned()
}

/// Takes out of `table` the entry whose key or value holds `offset` (the
/// deepest, within nested tables; an array's whole entry); whether one was.
pub fn remove_at(table: &mut DeTable<'_>, offset: usize) -> bool {
    let mut found = None;
    for (key, value) in table.iter_mut() {
        // As in `find_in_table`: a `[a.b]` table's span does not cover
        // its children, so look inside first.
        if let DeValue::Table(inner) = value.get_mut()
            && remove_at(inner, offset)
        {
            return true;
        }
        // An array's items (`[[policies]]` headers each) are not inside
        // its span either; toml's arrays cannot lose an item, so the whole
        // entry goes.
        if contains(&key.span(), offset)
            || contains(&value.span(), offset)
            || find_in_value(value.get_ref(), offset, &mut Vec::new())
        {
            found = Some(key.get_ref().clone());
            break;
        }
    }
    found.is_some_and(|key| table.remove(key.as_ref()).is_some())
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && (offset < span.end || span.is_empty() && offset == span.start)
}

fn find_in_table(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table {
        path.push(format!(".{}", key.get_ref()));
        // Parent spans of `[a.b]` tables do not cover their children, so
        // look inside every value before judging this key.
        if find_in_value(value.get_ref(), offset, path)
            || contains(&key.span(), offset)
            || contains(&value.span(), offset)
        {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(value: &DeValue<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    match value {
        DeValue::Table(table) => find_in_table(table, offset, path),
        DeValue::Array(array) => {
            for (index, item) in array.iter().enumerate() {
                path.push(format!("[{index}]"));
                if find_in_value(item.get_ref(), offset, path) || contains(&item.span(), offset) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

/// serde says "unknown field `timout`, expected one of `a`, `b`, …"; with a
/// close known key, name just that one. Keys in `except` are not offered.
fn unknown_key_message(message: &str, except: &[&str]) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    let known: Vec<&str> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|known| !except.contains(known))
        .collect();
    let best = known
        .iter()
        .map(|known| (edit_distance(unknown, known), *known))
        .min()?;
    if best.0 <= 2.max(unknown.len() / 3) {
        return Some(format!(
            "unknown key `{unknown}` (did you mean `{}`?)",
            best.1
        ));
    }
    let quoted: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    Some(match quoted.as_slice() {
        [] => format!("unknown key `{unknown}`"),
        [one] => format!("unknown key `{unknown}`, expected {one}"),
        [one, other] => format!("unknown key `{unknown}`, expected {one} or {other}"),
        many => format!(
            "unknown key `{unknown}`, expected one of {}",
            many.join(", ")
        ),
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // Columns count characters, not bytes.
        assert_eq!(line_column(text, text.find('"').unwrap()), (2, 6));
        assert_eq!(line_column(text, 999), (3, 1));
    }

    #[test]
    fn keys_at_offsets() {
        let text = "timeout = \"1s\"\n[env.stage]\ntarget = \"x\"\npolicies = [\"a\", { path = \"b\", sha256 = \"c\" }]\n";
        let at = |needle: &str| key_at(text, text.find(needle).unwrap());
        assert_eq!(at("\"1s\""), "timeout");
        assert_eq!(at("target"), "env.stage.target");
        assert_eq!(at("\"x\""), "env.stage.target");
        assert_eq!(at("\"a\""), "env.stage.policies[0]");
        assert_eq!(at("\"c\""), "env.stage.policies[1].sha256");
    }

    #[test]
    fn typo_hints() {
        assert_eq!(
            unknown_key_message(
                "unknown field `timout`, expected one of `target`, `timeout`",
                &[]
            )
            .as_deref(),
            Some("unknown key `timout` (did you mean `timeout`?)")
        );
        assert_eq!(
            unknown_key_message(
                "unknown field `zzzzzz`, expected `target` or `timeout`",
                &[]
            )
            .as_deref(),
            Some("unknown key `zzzzzz`, expected `target` or `timeout`")
        );
        // An environment's table is not offered the top level's keys.
        let top = "unknown field `default_en`, expected one of `default_env`, `env`, `target`";
        assert_eq!(
            unknown_key_message(top, &[]).as_deref(),
            Some("unknown key `default_en` (did you mean `default_env`?)")
        );
        assert_eq!(
            unknown_key_message(top, &["default_env", "env"]).as_deref(),
            Some("unknown key `default_en`, expected `target`")
        );
        assert_eq!(unknown_key_message("invalid type: integer", &[]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn tables_of_places() {
        let place = |key: &str| Place {
            key: key.into(),
            line: 1,
            column: 1,
        };
        assert_eq!(place("timeout").table(), "top-level");
        assert_eq!(place("env.stage.timeout").table(), "env.stage");
        assert_eq!(place("env.stage.params.x").table(), "env.stage");
        assert_eq!(place("env.stage.target").setting(), "target");
        assert_eq!(place("target").setting(), "target");
        assert_eq!(place("env.stage.allow_hosts[1]").setting(), "allow_hosts");
        assert_eq!(place("allow_hosts[0]").setting(), "allow_hosts");
        assert_eq!(place("env.stage.secrets.prometheus").setting(), "secrets");
        assert_eq!(place("params.prometheus").setting(), "params");
        assert_eq!(place("env.stage").setting(), "");
    }
}
