//! Rate limits and usage quotas stored with a key.
//!
//! A rate limit is written `N/period`:
//!
//! ```text
//! rate    = count "/" period                  10/s, 600/min, 10000/h, 50000/d
//! count   = 1*DIGIT                           1 to MAX_RATE_COUNT, no sign, no leading zero
//! period  = "s" / "sec" / "second"            one second
//!         / "min" / "minute"                  one minute
//!         / "h" / "hour"                      one hour
//!         / "d" / "day"                       one day (86 400 s)
//! ```
//!
//! Shown and stored in the short form (`10/s`, `600/min`, `10000/h`,
//! `50000/d`), in a nullable `rate_limit` text column (`NULL`: no limit of
//! its own). `N/period` allows N requests in any window of that period,
//! including a burst of N at once, and no more: a generic cell rate
//! algorithm (GCRA) with an emission interval of `period / N` and a burst of
//! N (apikey-actix enforces it, in process or in Redis).
//!
//! A usage quota is a number of remaining uses (`remaining_uses`, a
//! nullable `BIGINT` column; `NULL`: unlimited), from 0 to [`MAX_USES`],
//! decremented by one per allowed request, atomically in the database and
//! never below zero.
//!
//! A quota may refill ([`Refill`], a nullable `uses_refill` text column):
//!
//! ```text
//! refill  = uses "/" ( "day" / "d" / "month" / "mo" )    1000/day, 50000/month
//! ```
//!
//! At the first use in each UTC calendar day (or month) the remaining uses
//! are set to `uses` (not added to), once, whatever the number of servers:
//! the row records the period it was refilled for (`uses_refill_period`, a
//! nullable `BIGINT`: days or months since 1970-01).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// The largest `N` of a rate limit `N/period`.
pub const MAX_RATE_COUNT: u32 = 1_000_000_000;

/// The largest number of uses a key may be given.
pub const MAX_USES: i64 = 1_000_000_000_000_000;

/// The period of a [`RateLimit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Period {
    /// One second (`s`).
    Second,
    /// One minute (`min`).
    Minute,
    /// One hour (`h`).
    Hour,
    /// One day, 86 400 seconds (`d`).
    Day,
}

impl Period {
    /// The period's length.
    pub fn duration(self) -> Duration {
        Duration::from_secs(match self {
            Period::Second => 1,
            Period::Minute => 60,
            Period::Hour => 3_600,
            Period::Day => 86_400,
        })
    }

    /// The short unit: `s`, `min`, `h`, `d`.
    pub fn unit(self) -> &'static str {
        match self {
            Period::Second => "s",
            Period::Minute => "min",
            Period::Hour => "h",
            Period::Day => "d",
        }
    }

    fn parse(unit: &str) -> Option<Period> {
        Some(match unit {
            "s" | "sec" | "second" => Period::Second,
            "min" | "minute" => Period::Minute,
            "h" | "hour" => Period::Hour,
            "d" | "day" => Period::Day,
            _ => return None,
        })
    }
}

/// A rate limit: at most `count` requests in any window of one `period`
/// (module docs: [`crate::limits`]).
///
/// ```
/// use apikey_core::RateLimit;
/// let limit: RateLimit = "600/min".parse().unwrap();
/// assert_eq!(limit.count(), 600);
/// assert_eq!(limit.to_string(), "600/min");
/// assert!("10/fortnight".parse::<RateLimit>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    count: u32,
    period: Period,
}

impl RateLimit {
    /// `count` requests per `period`; `count` from 1 to [`MAX_RATE_COUNT`].
    pub fn new(count: u32, period: Period) -> Result<Self> {
        if count == 0 || count > MAX_RATE_COUNT {
            return Err(Error::validation(
                "rate_limit",
                format!("the count is 1 to {MAX_RATE_COUNT}"),
            ));
        }
        Ok(RateLimit { count, period })
    }

    /// Parses `N/period` (the grammar in [`crate::limits`]).
    pub fn parse(text: &str) -> Result<Self> {
        let refused = |why: String| {
            Err(Error::validation(
                "rate_limit",
                format!(
                    "`{}`: {why}; expected N/period, for example 10/s, 600/min, 10000/h or 50000/d",
                    text.chars().take(40).collect::<String>()
                ),
            ))
        };
        let Some((count, unit)) = text.split_once('/') else {
            return refused("no `/`".into());
        };
        let Some(period) = Period::parse(unit) else {
            return refused(format!(
                "unknown period `{}` (s, min, h or d)",
                unit.chars().take(20).collect::<String>()
            ));
        };
        if count.is_empty()
            || !count.bytes().all(|b| b.is_ascii_digit())
            || (count.len() > 1 && count.starts_with('0'))
        {
            return refused("the count is a whole number without sign or leading zero".into());
        }
        match count.parse::<u64>() {
            Ok(n) if (1..=u64::from(MAX_RATE_COUNT)).contains(&n) => {
                RateLimit::new(n as u32, period)
            }
            _ => refused(format!("the count is 1 to {MAX_RATE_COUNT}")),
        }
    }

    /// The limit stored in a `rate_limit` column. Lenient: text that does
    /// not parse (written by raw SQL) is no limit of the key's own, and is
    /// logged.
    pub fn from_column(text: Option<&str>) -> Option<Self> {
        let text = text?;
        match RateLimit::parse(text) {
            Ok(limit) => Some(limit),
            Err(e) => {
                log::warn!("apikey: ignoring a stored rate limit: {e}");
                None
            }
        }
    }

    /// The number of requests per period (also the burst).
    pub fn count(self) -> u32 {
        self.count
    }

    /// The period.
    pub fn period(self) -> Period {
        self.period
    }

    /// The time one request uses up: `period / count`, in nanoseconds
    /// (at least 1).
    pub fn emission_interval_nanos(self) -> u64 {
        let period = self.period.duration().as_nanos() as u64;
        (period / u64::from(self.count)).max(1)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.period.unit())
    }
}

impl FromStr for RateLimit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        RateLimit::parse(s)
    }
}

/// Checks a number of uses a key may be given: 0 to [`MAX_USES`].
pub fn validate_uses(uses: i64) -> Result<()> {
    if !(0..=MAX_USES).contains(&uses) {
        return Err(Error::validation(
            "remaining_uses",
            format!("0 to {MAX_USES}"),
        ));
    }
    Ok(())
}

/// Parses a number of uses (`apikey create --uses 1000`): digits only,
/// 0 to [`MAX_USES`].
pub fn parse_uses(text: &str) -> Result<i64> {
    let refused = || {
        Err(Error::validation(
            "remaining_uses",
            format!(
                "`{}`: a whole number from 0 to {MAX_USES}",
                text.chars().take(40).collect::<String>()
            ),
        ))
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return refused();
    }
    match text.parse::<i64>() {
        Ok(n) if validate_uses(n).is_ok() => Ok(n),
        _ => refused(),
    }
}

/// How often a quota refills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefillPeriod {
    /// Every UTC calendar day.
    Day,
    /// Every UTC calendar month.
    Month,
}

/// A quota refill: `uses` at the first use of each period ([`crate::limits`]).
///
/// ```
/// use apikey_core::limits::Refill;
/// let refill: Refill = "1000/day".parse().unwrap();
/// assert_eq!(refill.uses(), 1000);
/// assert_eq!(refill.to_string(), "1000/day");
/// assert!("1000/week".parse::<Refill>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Refill {
    uses: i64,
    period: RefillPeriod,
}

impl Refill {
    /// Parses `N/day` or `N/month` (`d`, `mo`); N from 1 to [`MAX_USES`].
    pub fn parse(text: &str) -> Result<Self> {
        let refused = |why: &str| {
            Err(Error::validation(
                "uses_refill",
                format!(
                    "`{}`: {why}; expected N/day or N/month, for example 1000/day",
                    text.chars().take(40).collect::<String>()
                ),
            ))
        };
        let Some((count, unit)) = text.split_once('/') else {
            return refused("no `/`");
        };
        let period = match unit {
            "day" | "d" => RefillPeriod::Day,
            "month" | "mo" => RefillPeriod::Month,
            _ => return refused("the period is day or month"),
        };
        match parse_uses(count) {
            Ok(uses) if uses > 0 => Ok(Refill { uses, period }),
            _ => refused(&format!("the number of uses is 1 to {MAX_USES}")),
        }
    }

    /// The refill stored in a `uses_refill` column; lenient (text that does
    /// not parse is no refill, and is logged).
    pub fn from_column(text: Option<&str>) -> Option<Self> {
        let text = text?;
        match Refill::parse(text) {
            Ok(refill) => Some(refill),
            Err(e) => {
                log::warn!("apikey: ignoring a stored quota refill: {e}");
                None
            }
        }
    }

    /// The remaining uses after a refill.
    pub fn uses(self) -> i64 {
        self.uses
    }

    /// How often.
    pub fn period(self) -> RefillPeriod {
        self.period
    }

    /// The number of the period `at` falls in: days, or months, since
    /// 1970-01 (UTC).
    pub fn period_index(self, at: chrono::NaiveDateTime) -> i64 {
        use chrono::Datelike;
        match self.period {
            RefillPeriod::Day => at.and_utc().timestamp().div_euclid(86_400),
            RefillPeriod::Month => i64::from(at.year() - 1970) * 12 + i64::from(at.month0()),
        }
    }
}

impl fmt::Display for Refill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period {
            RefillPeriod::Day => "day",
            RefillPeriod::Month => "month",
        };
        write!(f, "{}/{unit}", self.uses)
    }
}

impl FromStr for Refill {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Refill::parse(s)
    }
}

/// What [`crate::BaseApiKeyManager::use_quota`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuotaUse {
    /// The key has no quota: nothing was counted.
    Unlimited,
    /// One use was taken; this many are left.
    Used {
        /// Uses left after this one.
        remaining: i64,
    },
    /// No use left: the request must be refused.
    Exhausted,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        for (text, count, period, shown) in [
            ("10/s", 10, Period::Second, "10/s"),
            ("1/sec", 1, Period::Second, "1/s"),
            ("600/min", 600, Period::Minute, "600/min"),
            ("600/minute", 600, Period::Minute, "600/min"),
            ("10000/h", 10_000, Period::Hour, "10000/h"),
            ("5/hour", 5, Period::Hour, "5/h"),
            ("50000/d", 50_000, Period::Day, "50000/d"),
            (
                "1000000000/day",
                MAX_RATE_COUNT,
                Period::Day,
                "1000000000/d",
            ),
        ] {
            let limit = RateLimit::parse(text).expect(text);
            assert_eq!((limit.count(), limit.period()), (count, period), "{text}");
            assert_eq!(limit.to_string(), shown);
            assert_eq!(RateLimit::parse(shown).expect(shown), limit);
        }
        for bad in [
            "",
            "10",
            "/s",
            "10/",
            "0/s",
            "-1/s",
            "+1/s",
            "01/s",
            "1.5/s",
            "10/m",
            "10/S",
            "10 /s",
            "10/s ",
            "10/s/s",
            "10/month",
            "1000000001/s",
            "99999999999999999999999999/s",
        ] {
            assert!(RateLimit::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RateLimit::new(0, Period::Second).is_err());
    }

    #[test]
    fn emission_interval() {
        let l = RateLimit::parse("10/s").expect("valid");
        assert_eq!(l.emission_interval_nanos(), 100_000_000);
        let l = RateLimit::parse("1000000000/s").expect("valid");
        assert_eq!(l.emission_interval_nanos(), 1);
        let l = RateLimit::parse("3/min").expect("valid");
        assert_eq!(l.emission_interval_nanos(), 20_000_000_000);
    }

    #[test]
    fn uses() {
        assert_eq!(parse_uses("1000").expect("valid"), 1000);
        assert_eq!(parse_uses("0").expect("valid"), 0);
        for bad in [
            "",
            "-1",
            "+1",
            "1e3",
            "10 ",
            "1000000000000000001",
            "99999999999999999999",
        ] {
            assert!(parse_uses(bad).is_err(), "{bad:?}");
        }
        assert!(validate_uses(-1).is_err());
        assert!(validate_uses(MAX_USES + 1).is_err());
    }

    #[test]
    fn refills() {
        let r = Refill::parse("1000/day").expect("valid");
        assert_eq!((r.uses(), r.period()), (1000, RefillPeriod::Day));
        assert_eq!(Refill::parse("5/mo").expect("valid").to_string(), "5/month");
        for bad in [
            "",
            "1000",
            "0/day",
            "-1/day",
            "1000/week",
            "1000/Day",
            "x/day",
        ] {
            assert!(Refill::parse(bad).is_err(), "{bad:?}");
        }
        let at =
            |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("time");
        let day = Refill::parse("1/day").expect("valid");
        assert_eq!(day.period_index(at("1970-01-01 23:59:59")), 0);
        assert_eq!(day.period_index(at("1970-01-02 00:00:00")), 1);
        let month = Refill::parse("1/month").expect("valid");
        assert_eq!(month.period_index(at("1970-12-31 23:59:59")), 11);
        assert_eq!(month.period_index(at("1971-01-01 00:00:00")), 12);
        assert_eq!(month.period_index(at("2026-11-28 12:00:00")), 56 * 12 + 10);
    }

    #[test]
    fn column() {
        assert_eq!(RateLimit::from_column(None), None);
        assert_eq!(RateLimit::from_column(Some("junk")), None);
        assert_eq!(
            RateLimit::from_column(Some("10/s")),
            Some(RateLimit::parse("10/s").expect("valid"))
        );
    }
}
