//! `--expires WHEN`: an RFC 3339 timestamp or a duration from now.

use chrono::{DateTime, Duration, Utc};

/// Parses WHEN relative to `now`: `2030-01-01T00:00:00Z` (any RFC 3339
/// offset), or a duration such as `30d`, `12h`, `1w2d`, `90m`, `45s`.
pub fn parse_when(input: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let when = parse_any(input, now)?;
    if apikey_core::validate_expiry_date(Some(when)).is_err() {
        return Err(format!(
            "--expires `{}` is past the end of year 9999, the latest expiry a key can have",
            crate::output::sanitize(input.trim(), 40)
        ));
    }
    Ok(when)
}

fn parse_any(input: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("--expires needs a value: an RFC 3339 time or a duration like 30d".into());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let duration = parse_duration(s).ok_or_else(|| {
        format!(
            "invalid --expires `{}`: use an RFC 3339 time (2030-01-31T12:00:00Z) \
             or a duration (30d, 12h, 90m, 45s, 2w, 1d12h)",
            crate::output::sanitize(s, 40)
        )
    })?;
    now.checked_add_signed(duration)
        .ok_or_else(|| "--expires is too far in the future".into())
}

/// `<number><unit>` repeated; units s, m, h, d, w. `None` on anything else,
/// a zero total, or an overflow.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total: i64 = 0;
    let mut number: Option<i64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(i64::from(d))?,
            );
            continue;
        }
        let unit: i64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    if number.is_some() || total == 0 {
        return None;
    }
    Duration::try_seconds(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Duration::try_days(30));
        assert_eq!(parse_duration("12h"), Duration::try_hours(12));
        assert_eq!(parse_duration("1d12h"), Duration::try_hours(36));
        assert_eq!(parse_duration("2w"), Duration::try_days(14));
        for bad in [
            "",
            "d",
            "30",
            "0d",
            "3x",
            "-1d",
            "1.5h",
            "99999999999999999999d",
            "1d 2h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_and_errors() {
        let now = Utc::now();
        let t = parse_when("2030-01-31T12:00:00+02:00", now).expect("rfc 3339");
        assert_eq!(t.to_rfc3339(), "2030-01-31T10:00:00+00:00");
        assert_eq!(parse_when("12h", now), Ok(now + Duration::hours(12)));
        assert!(parse_when("tomorrow", now).is_err());
        assert!(parse_when("9223372036854775807s", now).is_err());
        let far = parse_when("3000000d", now).expect_err("past year 9999");
        assert!(far.contains("year 9999"), "{far}");
        assert!(parse_when("+10000-01-01T00:00:00Z", now).is_err());
        assert!(parse_when("9999-12-31T23:59:59Z", now).is_ok());
    }
}
