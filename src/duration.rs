//! Human durations as written in config and rule files: `500ms`, `5s`, `10m`, `1h`, `1d`,
//! or combinations like `1m30s`.

use std::time::Duration;

/// Parse a duration like `250ms`, `5s`, `1m30s`, `2h`, `1d`. A bare number is rejected so that
/// a unit is never guessed.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; write e.g. `5s`, `500ms`, `10m`".into());
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total = Duration::ZERO;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(format!(
                "invalid duration `{s}`: expected a number at `{}`",
                &s[start..]
            ));
        }
        let n: u64 = s[start..i]
            .parse()
            .map_err(|_| format!("invalid duration `{s}`: number too large"))?;
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = match &s[ustart..i] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "d" => Duration::from_secs(n.saturating_mul(86400)),
            "" => {
                return Err(format!(
                    "invalid duration `{s}`: missing unit (ms, s, m, h or d)"
                ))
            }
            u => {
                return Err(format!(
                    "invalid duration `{s}`: unknown unit `{u}` (use ms, s, m, h or d)"
                ))
            }
        };
        total = total.saturating_add(unit);
    }
    Ok(total)
}

/// Format a duration the way `parse_duration` reads it (`90s` → `1m30s`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut secs = (ms / 1000) as u64;
    let mut out = String::new();
    for (unit, len) in [("d", 86400u64), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= len {
            out.push_str(&format!("{}{unit}", secs / len));
            secs %= len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("5y")
            .unwrap_err()
            .contains("unknown unit `y`"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn format_round_trips() {
        for s in ["500ms", "5s", "1m30s", "2h", "1d"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
