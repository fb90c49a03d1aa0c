//! The billing vocabulary every component shares: the UTC day a load falls
//! on and the unique Worker it counts for. The worker node's outbox and the
//! control plane's ledger both key loads with [`UniqueWorker::key`], so "the
//! same unique Worker" means one thing everywhere.

use std::fmt;
use std::time::SystemTime;

/// Separates the fields of a [`UniqueWorker::key`]; no field may contain it.
pub const KEY_SEPARATOR: char = '\u{1f}';

/// A UTC calendar day, `YYYY-MM-DD`, checked against the Gregorian calendar.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDay(String);

/// Why a text is not a [`UtcDay`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DayError {
    /// Not ten characters of the form `YYYY-MM-DD`.
    #[error("day {0:?} is not in the form YYYY-MM-DD (e.g. 2025-01-31)")]
    Malformed(String),
    /// The month is not 01 to 12.
    #[error("day {day:?} has month {month}, which is not 01..12")]
    Month {
        /// The text that was checked.
        day: String,
        /// The month it names.
        month: u32,
    },
    /// The day of the month does not exist in that month.
    #[error("day {day:?} does not exist (month {month:02} has {days_in_month} days)")]
    DayOfMonth {
        /// The text that was checked.
        day: String,
        /// The month it names.
        month: u32,
        /// How many days that month has in that year.
        days_in_month: u32,
    },
}

impl UtcDay {
    /// The UTC calendar day `time` falls on (times before 1970 are 1970-01-01).
    pub fn of(time: SystemTime) -> UtcDay {
        let secs = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        UtcDay(format!("{y:04}-{m:02}-{d:02}"))
    }

    /// Today, in UTC.
    pub fn today() -> UtcDay {
        UtcDay::of(SystemTime::now())
    }

    /// Parses and checks `YYYY-MM-DD`.
    ///
    /// # Errors
    ///
    /// [`DayError`] naming what is wrong: the form, the month or the day.
    pub fn parse(day: &str) -> Result<UtcDay, DayError> {
        let b = day.as_bytes();
        let well_formed = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !well_formed {
            return Err(DayError::Malformed(day.to_owned()));
        }
        let number = |range: std::ops::Range<usize>| day[range].parse::<u32>().unwrap_or(0);
        let (year, month, dom) = (number(0..4), number(5..7), number(8..10));
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => {
                return Err(DayError::Month {
                    day: day.to_owned(),
                    month,
                });
            }
        };
        if dom == 0 || dom > days_in_month {
            return Err(DayError::DayOfMonth {
                day: day.to_owned(),
                month,
                days_in_month,
            });
        }
        Ok(UtcDay(day.to_owned()))
    }

    /// The day as `YYYY-MM-DD`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UtcDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// What is billed once per UTC day: one version of one Worker of one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UniqueWorker<'a> {
    /// The tenant that owns the Worker.
    pub tenant: &'a str,
    /// The Worker's id, chosen by the tenant (`inline:<load id>` for a run without one).
    pub worker_id: &'a str,
    /// [`crate::code_hash`] of its bundle.
    pub code_hash: &'a str,
}

impl UniqueWorker<'_> {
    /// The key a load of this Worker on `day` is counted under, the same in
    /// the outbox and the ledger: the day first, so keys sort by day.
    pub fn key(&self, day: &str) -> String {
        let s = KEY_SEPARATOR;
        format!(
            "{day}{s}{}{s}{}{s}{}",
            self.tenant, self.worker_id, self.code_hash
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn utc_days_follow_the_gregorian_calendar() {
        let at = |secs: u64| UtcDay::of(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0).as_str(), "1970-01-01");
        assert_eq!(at(86_399).as_str(), "1970-01-01");
        assert_eq!(at(86_400).as_str(), "1970-01-02");
        assert_eq!(at(951_782_400).as_str(), "2000-02-29");
        assert_eq!(at(1_709_164_800).as_str(), "2024-02-29");
        assert_eq!(at(1_735_689_599).as_str(), "2024-12-31");
        assert_eq!(at(1_735_689_600).as_str(), "2025-01-01");
    }

    #[test]
    fn days_are_checked_against_the_calendar() {
        assert!(UtcDay::parse("2024-02-29").is_ok());
        assert!(UtcDay::parse("2000-02-29").is_ok());
        assert!(matches!(
            UtcDay::parse("2023-02-29"),
            Err(DayError::DayOfMonth { .. })
        ));
        assert!(matches!(
            UtcDay::parse("1900-02-29"),
            Err(DayError::DayOfMonth { .. })
        ));
        assert!(matches!(
            UtcDay::parse("2024-13-01"),
            Err(DayError::Month { .. })
        ));
        assert!(matches!(
            UtcDay::parse("2024-1-01"),
            Err(DayError::Malformed(_))
        ));
        assert!(matches!(
            UtcDay::parse("2024-01-00"),
            Err(DayError::DayOfMonth { .. })
        ));
    }

    #[test]
    fn unique_worker_keys_sort_by_day_and_separate_fields() {
        let worker = UniqueWorker {
            tenant: "acme",
            worker_id: "w",
            code_hash: "h",
        };
        assert_eq!(
            worker.key("2026-01-02"),
            "2026-01-02\u{1f}acme\u{1f}w\u{1f}h"
        );
        assert!(worker.key("2026-01-02") < worker.key("2026-01-03"));
    }
}
