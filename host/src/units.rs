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
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (year, month, day) = gate_units::civil_date(secs as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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
