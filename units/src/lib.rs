//! Human-written durations (`500ms`, `10s`, `5m`, `1h`), read the same way
//! by the runner (flags, gate.toml) and by policies (`--param window=5m`),
//! so one spelling means one thing everywhere; the calendar date of a Unix
//! time, and measured values, which both write in messages and reports; the
//! header lines a policy sees, which the runner hands over and gate-sdk's
//! mock host imitates; the variable a secret is read from; and the rules
//! the runner judges a policy's output by, which the mock host applies too.

use std::time::Duration;

/// Parses `500ms`, `10s`, `5m`, `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let seconds = seconds(text)?;
    in_range(text, seconds)
}

/// Parses a wait that may be none: a duration as [`parse_duration`] reads
/// it, or zero in any unit, so that a zero (`--initial-delay 0`) can cancel
/// a wait set elsewhere.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(gate_units::parse_delay("0s"), Ok(Duration::ZERO));
/// assert_eq!(gate_units::parse_delay("2m"), Ok(Duration::from_secs(120)));
/// assert!(gate_units::parse_duration("0s").is_err());
/// ```
pub fn parse_delay(text: &str) -> Result<Duration, String> {
    match seconds(text) {
        Ok(0.0) => Ok(Duration::ZERO),
        Ok(seconds) => in_range(text, seconds),
        Err(e) => Err(e),
    }
    .map_err(|e| format!("{e}; 0 for none"))
}

/// The seconds `text` (`500ms`, `10s`, `5m`, `1h`, a bare number) says.
fn seconds(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 500ms, 10s, 5m, 1h)"))?;
    match unit.trim() {
        "ms" => Ok(value / 1000.0),
        "" | "s" => Ok(value),
        "m" => Ok(value * 60.0),
        "h" => Ok(value * 3600.0),
        other => Err(format!(
            "`{text}` is not a duration: unknown unit `{other}` (try 500ms, 10s, 5m, 1h)"
        )),
    }
}

/// `seconds` as a duration, from a millisecond to a year.
fn in_range(text: &str, seconds: f64) -> Result<Duration, String> {
    // Checked on the float, before rounding to nanoseconds: `1e-10s` is
    // above zero as a float but would become a zero Duration. Nothing gate
    // times (requests, windows, intervals) means anything below a
    // millisecond.
    if !(0.001..=366.0 * 86_400.0).contains(&seconds) {
        return Err(format!(
            "`{}` is out of range (must be at least 1ms and at most a year)",
            text.trim()
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The UTC calendar date `(year, month, day)` of a Unix time in seconds,
/// without a time-zone database (Howard Hinnant's `civil_from_days`).
///
/// ```
/// assert_eq!(gate_units::civil_date(0), (1970, 1, 1));
/// assert_eq!(gate_units::civil_date(1_795_439_951), (2026, 11, 23));
/// assert_eq!(gate_units::civil_date(-86_400), (1969, 12, 31));
/// ```
pub fn civil_date(unix: i64) -> (i64, u32, u32) {
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// The Unix time in seconds of midnight UTC on a calendar date: the inverse
/// of [`civil_date`] (Howard Hinnant's `days_from_civil`).
///
/// ```
/// assert_eq!(gate_units::unix_of_date(1970, 1, 1), 0);
/// assert_eq!(gate_units::unix_of_date(2026, 11, 23), 1_795_392_000);
/// assert_eq!(gate_units::civil_date(gate_units::unix_of_date(2000, 2, 29)), (2000, 2, 29));
/// ```
pub fn unix_of_date(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400
}

/// Header lines as a policy gets them: names lower-cased, in name order, a
/// repeated header's values joined with ", " in the order they came, but
/// `set-cookie`'s (see [`keeps_lines`]), which stay one line each.
///
/// ```
/// let mut headers = vec![
///     ("Vary".to_owned(), "Accept".to_owned()),
///     ("Set-Cookie".to_owned(), "a=1".to_owned()),
///     ("vary".to_owned(), "Origin".to_owned()),
///     ("set-cookie".to_owned(), "b=2".to_owned()),
/// ];
/// gate_units::normalize_headers(&mut headers);
/// let lines: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
/// assert_eq!(lines, [("set-cookie", "a=1"), ("set-cookie", "b=2"), ("vary", "Accept, Origin")]);
/// ```
pub fn normalize_headers(headers: &mut Vec<(String, String)>) {
    for (name, _) in headers.iter_mut() {
        name.make_ascii_lowercase();
    }
    // Stable: a repeated header's values stay in the order they came.
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    headers.dedup_by(|later, kept| {
        let joined = later.0 == kept.0 && !keeps_lines(&kept.0);
        if joined {
            kept.1.push_str(", ");
            kept.1.push_str(&later.1);
        }
        joined
    });
}

/// The name a secret is kept under, `GATE_SECRET_<key>`: `name` trimmed,
/// upper-cased, `-` and `.` turned into `_`, so that `api-token`,
/// `api_token` and `api.token` are one secret and the variable is one a
/// shell can export. The runner reads secrets by it and gate-sdk's messages
/// and mock host name them by it.
///
/// ```
/// assert_eq!(gate_units::secret_key(" db.pass-word "), "DB_PASS_WORD");
/// ```
pub fn secret_key(name: &str) -> String {
    name.trim().to_ascii_uppercase().replace(['-', '.'], "_")
}

/// The longest policy or check name gate loads, in bytes.
pub const MAX_NAME: usize = 256;

/// The rule of [`is_name`], as messages state it.
pub const NAME_RULE: &str =
    "1 to 256 bytes without whitespace, control characters, `/`, `,` or `*`";

/// Whether gate loads a policy or a check named `name` ([`NAME_RULE`]).
/// A name is one word in reports, half of `POLICY/CHECK` on `--check` and
/// `--skip-check`, whose `*` is a wildcard, and part of one item of the
/// comma-separated list a rollback command gets (`GATE_FAILED_CHECKS`). The runner refuses a
/// policy with any other (exit 2); gate-sdk catches it in debug builds and
/// in its mock host.
///
/// ```
/// assert!(gate_units::is_name("p95-latency"));
/// assert!(!gate_units::is_name("p95 latency"));
/// assert!(!gate_units::is_name("api/health"));
/// assert!(!gate_units::is_name(""));
/// ```
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | ',' | '*'))
}

/// What the runner adds to the message of a `pass` or `warn` that carries a
/// measurement that is not a finite number (NaN, ∞), which it reports
/// `inconclusive` instead: a pass must rest on numbers. gate-sdk's mock
/// host does the same.
pub const NOT_FINITE_NOTE: &str =
    " [gate: a measurement is not a finite number, so this cannot pass]";

/// Whether the lines of header `name` (lower case) must stay apart. RFC
/// 9110 (5.3) lets a recipient join a field's lines with ", " except for
/// `Set-Cookie`, whose values hold commas of their own (`Expires=Wed, 21
/// Oct 2026 07:28:00 GMT`), so joined they could not be told apart.
///
/// ```
/// assert!(gate_units::keeps_lines("set-cookie"));
/// assert!(!gate_units::keeps_lines("vary"));
/// ```
pub fn keeps_lines(name: &str) -> bool {
    name == "set-cookie"
}

/// Beyond this many decimals a value is written with an exponent
/// (`3.1e-15`): a reader cannot count that many zeros.
const MAX_DECIMALS: usize = 12;

/// A measured value for people, with no float noise: `decimals` decimals, or
/// below 1 as many as show `significant` significant digits, so that a small
/// ratio (`0.00003`) never reads as `0`; trailing zeros dropped. A value too
/// small for 12 decimals is written with an exponent (`3.1e-15`).
///
/// ```
/// use gate_units::format_decimal;
/// assert_eq!(format_decimal(123.456789, 4, 3), "123.4568");
/// assert_eq!(format_decimal(500.0, 4, 3), "500");
/// assert_eq!(format_decimal(0.00003, 4, 3), "0.00003");
/// assert_eq!(format_decimal(0.012345, 0, 3), "0.0123");
/// assert_eq!(format_decimal(-3.1e-15, 4, 3), "-3.1e-15");
/// ```
pub fn format_decimal(value: f64, decimals: usize, significant: usize) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value == 0.0 {
        // -0.0 too: a measurement of "-0" reads as a sign that means something.
        return "0".to_owned();
    }
    let magnitude = value.abs();
    let needed = if magnitude >= 1.0 {
        decimals
    } else {
        // log10 of 0.001 may come out a hair above -3: a digit more, at worst.
        decimals.max((-magnitude.log10()).floor() as usize + significant)
    };
    if needed > MAX_DECIMALS {
        let precision = significant.saturating_sub(1);
        let text = format!("{value:.precision$e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        return format!("{}e{exponent}", trim_zeros(mantissa));
    }
    trim_zeros(&format!("{value:.needed$}")).to_owned()
}

/// `1.500` → `1.5`, `2.000` → `2`; a number without a point as it is.
fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_significant_digits() {
        assert_eq!(format_decimal(0.0, 4, 3), "0");
        assert_eq!(format_decimal(-0.0, 4, 3), "0");
        assert_eq!(format_decimal(-0.25, 0, 3), "-0.25");
        assert_eq!(format_decimal(0.5, 0, 3), "0.5");
        assert_eq!(format_decimal(0.15, 4, 3), "0.15");
        assert_eq!(format_decimal(0.00001, 4, 3), "0.00001");
        assert_eq!(format_decimal(0.000012345, 4, 3), "0.0000123");
        assert_eq!(format_decimal(1e-300, 0, 3), "1e-300");
        assert_eq!(format_decimal(1e20, 4, 3), "100000000000000000000");
        assert_eq!(format_decimal(f64::NAN, 4, 3), "NaN");
        assert_eq!(format_decimal(f64::NEG_INFINITY, 4, 3), "-inf");
        // Never zero for a value that is not.
        for exponent in -320..0 {
            let value = 3.0 * 10f64.powi(exponent);
            if value > 0.0 {
                assert_ne!(
                    format_decimal(value, 0, 3).parse::<f64>(),
                    Ok(0.0),
                    "{value}"
                );
            }
        }
    }

    #[test]
    fn delays_may_be_zero_durations_may_not() {
        for zero in ["0", "0s", "0ms", " 0.0m ", "0h"] {
            assert_eq!(parse_delay(zero), Ok(Duration::ZERO), "{zero}");
        }
        assert_eq!(parse_delay("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        let error = parse_delay("0 parsecs").unwrap_err();
        assert!(error.ends_with("; 0 for none"), "{error}");
        assert!(parse_delay("-0s").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("0s").is_err());
        // Above zero as a float, zero as a Duration: found by fuzzing.
        assert!(parse_duration("0.0000000001ms").is_err());
        assert!(parse_duration("0.5ms").is_err());
        assert_eq!(parse_duration("1ms"), Ok(Duration::from_millis(1)));
        assert!(
            parse_duration("5d")
                .unwrap_err()
                .contains("unknown unit `d`")
        );
    }
}
