//! Human-written durations (`500ms`, `10s`, `5m`, `1h`) and sizes (`64MiB`).

use std::time::Duration;

pub use gate_units::{parse_delay, parse_duration};

/// Parses a byte size: `65536`, `512KiB`, `64MiB`, `1GiB` (also `KB`/`MB`/`GB`,
/// read as binary units since that is what memory limits mean).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try 64MiB)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "`{text}` has unknown unit `{other}` (use KiB, MiB or GiB)"
            ));
        }
    };
    value
        .checked_mul(factor)
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| format!("`{text}` is out of range"))
}

/// The units sizes are shown in, largest first.
const BINARY_UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];

/// Formats a byte count for messages: `64 MiB`, `1.5 KiB`, `12 B`.
pub fn format_size(bytes: u64) -> String {
    for (name, size) in BINARY_UNITS {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            return if value.fract() == 0.0 {
                format!("{value:.0} {name}")
            } else {
                format!("{value:.1} {name}")
            };
        }
    }
    format!("{bytes} B")
}

/// Formats a duration for one line of output: `850µs`, `12ms`, `1.24s`.
pub fn format_duration(duration: Duration) -> String {
    let micros = duration.as_micros();
    if micros < 1_000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        format!("{}ms", micros / 1_000)
    } else {
        format!("{:.2}s", duration.as_secs_f64())
    }
}

/// A span of seconds for a table, to the precision it is worth: `850ms`,
/// `6.40s` under a minute, then `12m 5s`, `3h 12m`, `2d 4h`.
pub fn format_span(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_owned();
    }
    // A restore within the second a decision log can tell (not `0µs`).
    if seconds == 0.0 {
        return "0s".to_owned();
    }
    if seconds < 60.0 {
        return format_duration(Duration::from_secs_f64(seconds));
    }
    // Rounded to the second; u64 holds every f64 second count up to
    // ~584 billion years, and `as` saturates beyond.
    let whole = seconds.round() as u64;
    let (days, hours, minutes, secs) = (
        whole / 86_400,
        whole % 86_400 / 3600,
        whole % 3600 / 60,
        whole % 60,
    );
    match (days, hours) {
        (0, 0) => format!("{minutes}m {secs}s"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

/// A duration as one would write it in gate.toml: `500ms`, `10s`, `5m`,
/// `2h`, in the largest unit that holds it whole.
pub fn duration_as_written(duration: Duration) -> String {
    match duration.as_millis() {
        m if m >= 3_600_000 && m.is_multiple_of(3_600_000) => format!("{}h", m / 3_600_000),
        m if m >= 60_000 && m.is_multiple_of(60_000) => format!("{}m", m / 60_000),
        m if m >= 1000 && m.is_multiple_of(1000) => format!("{}s", m / 1000),
        m => format!("{m}ms"),
    }
}

/// A byte count as [`parse_size`] reads it back: `64 MiB`, `1536 B`, in the
/// largest unit that holds it whole.
pub fn size_as_written(bytes: u64) -> String {
    BINARY_UNITS
        .iter()
        .find(|(_, size)| bytes >= *size && bytes.is_multiple_of(*size))
        .map_or_else(
            || format!("{bytes} B"),
            |(name, size)| format!("{} {name}", bytes / size),
        )
}

/// `2026-11-23T13:19:11Z`: a UTC timestamp for reports, to the second.
pub fn rfc3339(time: std::time::SystemTime) -> String {
    rfc3339_unix(unix_seconds(time))
}

/// [`rfc3339`] of a time in Unix seconds.
pub fn rfc3339_unix(secs: u64) -> String {
    let (year, month, day) = gate_units::civil_date(secs as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Whole seconds since the Unix epoch; 0 for a time before it.
pub fn unix_seconds(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A moment for `--since` and `--until`, in Unix seconds: a date
/// (`2026-11-01`, midnight UTC), an RFC 3339 timestamp as the decision log
/// writes them (`2026-11-01T12:00:00Z`, or with an offset), or an age before
/// `now` (`30d`, `12h`, `90m`).
pub fn parse_moment(text: &str, now: u64) -> Result<u64, String> {
    let text = text.trim();
    let not_a_time = || {
        format!(
            "`{text}` is not a time: give a date (2026-11-01), a timestamp \
             (2026-11-01T12:00:00Z) or an age (30d, 12h, 90m)"
        )
    };
    if looks_like_a_date(text) {
        return parse_date_time(text, false).map_err(|why| why.unwrap_or_else(not_a_time));
    }
    let age = match text.strip_suffix('d').map(str::parse::<u64>) {
        Some(Ok(days)) if (1..=36_500).contains(&days) => days * 86_400,
        Some(_) => return Err(not_a_time()),
        None => gate_units::parse_duration(text)
            .map_err(|_| not_a_time())?
            .as_secs(),
    };
    Ok(now.saturating_sub(age))
}

/// When a release was committed (`--committed-at`), in Unix seconds: an
/// RFC 3339 timestamp (`git log -1 --format=%cI`) or Unix seconds
/// (`--format=%ct`), no later than a day after `now` (clocks differ, but a
/// commit is not from the future: milliseconds, most likely).
pub fn parse_commit_time(text: &str, now: u64) -> Result<u64, String> {
    const SKEW: u64 = 86_400;
    let text = text.trim();
    let not_a_time = || {
        format!(
            "`{text}` is not a commit time: give an RFC 3339 timestamp \
             (git log -1 --format=%cI) or Unix seconds (--format=%ct)"
        )
    };
    let unix = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().map_err(|_| not_a_time())?
    } else if looks_like_a_date(text) {
        parse_date_time(text, true).map_err(|why| why.unwrap_or_else(not_a_time))?
    } else {
        return Err(not_a_time());
    };
    if unix > now.saturating_add(SKEW) {
        return Err(format!(
            "`{text}` is in the future: give the commit time in seconds (--format=%ct), not \
             milliseconds, or as RFC 3339 (--format=%cI)"
        ));
    }
    Ok(unix)
}

fn looks_like_a_date(text: &str) -> bool {
    text.as_bytes().get(4) == Some(&b'-')
}

/// `2026-11-01`, `2026-11-01T12:00:00Z` or `2026-11-01T13:00:00+01:00`, in
/// Unix seconds. `Err(None)`: not of these forms, for the caller to say
/// what it takes; `Err(Some(why))`: of these forms, but no moment.
fn parse_date_time(text: &str, time_needed: bool) -> Result<u64, Option<String>> {
    let numbers = |text: &str, sep: char| -> Option<Vec<u32>> {
        text.split(sep)
            .map(|f| {
                (!f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| f.parse().ok())
                    .flatten()
            })
            .collect()
    };
    let (date, time) = match text.split_once(['T', 't']) {
        Some((date, time)) => (date, Some(time)),
        None if time_needed => return Err(None),
        None => (text, None),
    };
    let (year, month, day) = match numbers(date, '-').as_deref() {
        Some(&[y, m, d]) => (i64::from(y), m, d),
        _ => return Err(None),
    };
    let midnight = gate_units::unix_of_date(year, month, day);
    if !(1970..=9999).contains(&year) || gate_units::civil_date(midnight) != (year, month, day) {
        return Err(Some(format!("`{text}` is not a date of the calendar")));
    }
    let Some(time) = time else {
        return Ok(midnight as u64);
    };
    // The offset: `Z`, or `+HH:MM` / `-HH:MM` east of UTC.
    let (clock, offset) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let at = time.rfind(['+', '-']).ok_or_else(|| {
            Some(format!(
                "`{text}` has no time zone: end it in Z (UTC) or an offset (+01:00)"
            ))
        })?;
        let sign = if time.as_bytes()[at] == b'-' { -1 } else { 1 };
        match numbers(&time[at + 1..], ':').as_deref() {
            Some(&[h, m]) if h < 24 && m < 60 => (&time[..at], sign * i64::from(h * 3600 + m * 60)),
            _ => return Err(None),
        }
    };
    let seconds = match numbers(clock, ':').as_deref() {
        Some(&[h, m, s]) if h < 24 && m < 60 && s < 60 => i64::from(h * 3600 + m * 60 + s),
        _ => return Err(None),
    };
    u64::try_from(midnight + seconds - offset).map_err(|_| Some(format!("`{text}` is before 1970")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(super::rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_439_951)),
            "2026-11-23T13:19:11Z"
        );
        assert_eq!(
            super::rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    use super::*;

    #[test]
    fn moments() {
        let now = 1_795_439_951; // 2026-11-23T13:19:11Z
        assert_eq!(parse_moment("2026-11-23", now), Ok(1_795_392_000));
        assert_eq!(parse_moment("2026-11-23T13:19:11Z", now), Ok(now));
        assert_eq!(parse_moment("2026-11-23T14:19:11+01:00", now), Ok(now));
        assert_eq!(parse_moment("2026-11-23T08:49:11-04:30", now), Ok(now));
        assert_eq!(parse_moment(" 2000-02-29 ", now), Ok(951_782_400));
        assert_eq!(parse_moment("30d", now), Ok(now - 30 * 86_400));
        assert_eq!(parse_moment("12h", now), Ok(now - 12 * 3600));
        assert_eq!(parse_moment("90m", now), Ok(now - 90 * 60));
        for wrong in [
            "yesterday",
            "2026-11",
            "2026-1-x",
            "2026-+1-01",
            "0d",
            "1.5d",
            "-3d",
            "2026-11-23T25:00:00Z",
            "2026-11-23T13:19:11+1",
        ] {
            let message = parse_moment(wrong, now).unwrap_err();
            assert!(
                message.contains("is not a time: give a date (2026-11-01)"),
                "{wrong}: {message}"
            );
        }
        assert_eq!(
            parse_moment("2026-02-30", now).unwrap_err(),
            "`2026-02-30` is not a date of the calendar"
        );
        assert_eq!(
            parse_moment("2026-11-23T13:19:11", now).unwrap_err(),
            "`2026-11-23T13:19:11` has no time zone: end it in Z (UTC) or an offset (+01:00)"
        );
        assert_eq!(
            parse_moment("1970-01-01T00:30:00+01:00", now).unwrap_err(),
            "`1970-01-01T00:30:00+01:00` is before 1970"
        );
    }

    #[test]
    fn spans() {
        for (seconds, shown) in [
            (0.0, "0s"),
            (0.85, "850ms"),
            (6.4, "6.40s"),
            (59.994, "59.99s"),
            (725.0, "12m 5s"),
            (3.0 * 3600.0 + 12.0 * 60.0 + 29.0, "3h 12m"),
            (2.0 * 86_400.0 + 4.0 * 3600.0, "2d 4h"),
            (f64::NAN, "-"),
            (-1.0, "-"),
        ] {
            assert_eq!(format_span(seconds), shown, "{seconds}");
        }
        assert!(format_span(u64::MAX as f64).ends_with('h'));
    }

    #[test]
    fn commit_times() {
        // As git prints them: %cI and %ct.
        let now = 1_795_439_951;
        assert_eq!(
            parse_commit_time("2026-11-23T14:19:11+01:00", now),
            Ok(1_795_439_951)
        );
        assert_eq!(parse_commit_time("1795439951", now), Ok(1_795_439_951));
        // A little ahead of this machine's clock is another machine's clock.
        assert_eq!(parse_commit_time("1795443551", now), Ok(1_795_443_551));
        for future in [
            "1795439951000",
            "2026-11-25T00:00:00Z",
            "253402300800",
            "9223372036854775808",
        ] {
            let message = parse_commit_time(future, now).unwrap_err();
            assert!(
                message.contains("is in the future: give the commit time in seconds"),
                "{future}: {message}"
            );
        }
        for wrong in [
            "2026-11-23",
            "last tuesday",
            "",
            "-5",
            "99999999999999999999999",
        ] {
            let message = parse_commit_time(wrong, now).unwrap_err();
            assert!(
                message.contains("is not a commit time: give an RFC 3339 timestamp"),
                "{wrong}: {message}"
            );
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1gb"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
        assert_eq!(format_size(64 << 20), "64 MiB");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(12), "12 B");
        for bytes in [12, 1536, 512 << 10, 64 << 20, 3 << 30] {
            assert_eq!(parse_size(&size_as_written(bytes)), Ok(bytes));
        }
        assert_eq!(size_as_written(1536), "1536 B");
        assert_eq!(size_as_written(64 << 20), "64 MiB");
        for (millis, written) in [
            (0, "0ms"),
            (1500, "1500ms"),
            (10_000, "10s"),
            (300_000, "5m"),
            (7_200_000, "2h"),
        ] {
            let duration = Duration::from_millis(millis);
            assert_eq!(duration_as_written(duration), written);
            if millis > 0 {
                assert_eq!(parse_duration(written), Ok(duration));
            }
        }
    }
}
