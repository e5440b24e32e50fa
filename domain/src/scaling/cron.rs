//! A five-field cron expression: the schedule a cron trigger scales on. `croner` parses it and
//! answers when it next fires; a dialect check in front of it keeps the one spelling KEDA's cron
//! scaler reads (croner also accepts names, `?`, `L`, `W`, `#`, 7 for Sunday and macros, which
//! KEDA does not).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeZone};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde::{Deserialize, Serialize};

use super::values::ValueError;

/// A standard five-field cron expression (`minute hour day-of-month month day-of-week`), as
/// KEDA's cron scaler reads it. Each field is a comma-separated list of `*`, `n`, `n-m`, each
/// optionally followed by `/step`; numbers must lie in the field's range (day of week is 0-6,
/// Sunday = 0). Month and day names (`JAN`, `MON`) and macros (`@daily`) are refused so one
/// schedule has one spelling. Whitespace between fields is normalised to one space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CronSchedule {
    text: String,
    /// Boxed: croner's parsed pattern is large, and a trigger is an enum of small variants.
    cron: Box<Cron>,
}

/// Name and inclusive range of each field, in order.
const FIELDS: [(&str, u32, u32); 5] =
    [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6)];

impl CronSchedule {
    /// Longest expression accepted, in bytes.
    pub const MAX_LEN: usize = 200;

    /// Parses and normalises a five-field cron expression.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let invalid = |detail: String| ValueError::InvalidCronSchedule { expression: value.to_owned(), detail };
        if value.len() > Self::MAX_LEN {
            return Err(invalid(format!("longer than {} characters", Self::MAX_LEN)));
        }
        let fields: Vec<&str> = value.split_whitespace().collect();
        if fields.len() != FIELDS.len() {
            return Err(invalid(format!("expected 5 fields, got {}", fields.len())));
        }
        for (field, (name, min, max)) in fields.iter().zip(FIELDS) {
            check_field(field, min, max).map_err(|detail| invalid(format!("{name}: {detail}")))?;
        }
        let text = fields.join(" ");
        // Five fields only (no seconds, no year); `n/step` is standard in KEDA's dialect
        // (robfig/cron), which croner calls a sloppy range.
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .sloppy_ranges(true)
            .build()
            .parse(&text)
            .map_err(|error| invalid(error.to_string()))?;
        Ok(Self { text, cron: Box::new(cron) })
    }

    /// The normalised expression.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first instant strictly after `after` at which the schedule fires, in `after`'s time
    /// zone (the trigger's); `None` if it never fires again.
    pub fn next_after<Tz: TimeZone>(&self, after: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        self.cron.find_next_occurrence(after, false).ok()
    }
}

/// Checks one field: a comma-separated list of items.
fn check_field(field: &str, min: u32, max: u32) -> Result<(), String> {
    field.split(',').try_for_each(|item| check_item(item, min, max))
}

/// Checks one item: `*`, `n` or `n-m`, optionally followed by `/step`.
fn check_item(item: &str, min: u32, max: u32) -> Result<(), String> {
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base, Some(step)),
        None => (item, None),
    };
    if let Some(step) = step {
        let step = number(step)?;
        if !(1..=max).contains(&step) {
            return Err(format!("step {step} is out of range 1-{max}"));
        }
    }
    if base == "*" {
        return Ok(());
    }
    let in_range = |n: u32| {
        if (min..=max).contains(&n) {
            Ok(n)
        } else {
            Err(format!("value {n} is out of range {min}-{max}"))
        }
    };
    match base.split_once('-') {
        Some((low, high)) => {
            let (low, high) = (in_range(number(low)?)?, in_range(number(high)?)?);
            if low > high {
                return Err(format!("range {low}-{high} is reversed"));
            }
            Ok(())
        }
        None => in_range(number(base)?).map(|_| ()),
    }
}

/// An unsigned decimal number of at most 4 digits (no cron field goes beyond 59).
fn number(text: &str) -> Result<u32, String> {
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a number, '*', range or step"));
    }
    text.parse().map_err(|_| format!("{text:?} is not a number, '*', range or step"))
}

impl TryFrom<String> for CronSchedule {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CronSchedule> for String {
    fn from(value: CronSchedule) -> Self {
        value.text
    }
}

impl FromStr for CronSchedule {
    type Err = ValueError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(expression: &str) -> String {
        match CronSchedule::parse(expression) {
            Err(ValueError::InvalidCronSchedule { detail, .. }) => detail,
            other => panic!("expected a cron error for {expression:?}, got {other:?}"),
        }
    }

    #[test]
    fn well_formed_schedules_parse_and_are_normalised() {
        for expression in [
            "* * * * *",
            "0 8 * * 1-5",
            "*/15 9-17 * * 1,3,5",
            "0,30 0-23/2 1-31 1-12 0-6",
            "5/10 * * * *",
            "59 23 31 12 6",
        ] {
            assert!(CronSchedule::parse(expression).is_ok(), "{expression}");
        }
        assert_eq!(CronSchedule::parse("  0  8 *\t* 1-5 ").unwrap().as_str(), "0 8 * * 1-5");
    }

    #[test]
    fn a_schedule_has_exactly_five_fields() {
        assert_eq!(detail("* * * *"), "expected 5 fields, got 4");
        assert_eq!(detail("0 * * * * *"), "expected 5 fields, got 6");
        assert_eq!(detail(""), "expected 5 fields, got 0");
        assert!(CronSchedule::parse("@daily").is_err());
    }

    #[test]
    fn numbers_must_lie_in_their_fields_range() {
        assert_eq!(detail("60 * * * *"), "minute: value 60 is out of range 0-59");
        assert_eq!(detail("* 24 * * *"), "hour: value 24 is out of range 0-23");
        assert_eq!(detail("* * 0 * *"), "day of month: value 0 is out of range 1-31");
        assert_eq!(detail("* * * 13 *"), "month: value 13 is out of range 1-12");
        assert_eq!(detail("* * * * 7"), "day of week: value 7 is out of range 0-6");
    }

    #[test]
    fn ranges_lists_and_steps_are_checked() {
        assert_eq!(detail("* 17-9 * * *"), "hour: range 17-9 is reversed");
        assert_eq!(detail("*/0 * * * *"), "minute: step 0 is out of range 1-59");
        assert_eq!(detail("*/60 * * * *"), "minute: step 60 is out of range 1-59");
        assert!(CronSchedule::parse("1,,2 * * * *").is_err());
        assert!(CronSchedule::parse("1- * * * *").is_err());
        assert!(CronSchedule::parse("*/ * * * *").is_err());
        assert!(CronSchedule::parse("-1 * * * *").is_err());
        assert!(CronSchedule::parse("* * * JAN *").is_err());
        assert!(CronSchedule::parse("* * * * MON").is_err());
        assert!(CronSchedule::parse("1/2/3 * * * *").is_err());
        assert!(CronSchedule::parse("99999 * * * *").is_err());
        assert!(CronSchedule::parse(&format!("{} * * * *", "0,".repeat(100))).is_err());
    }

    #[test]
    fn the_schedule_says_when_it_next_fires_in_the_triggers_time_zone() {
        let weekdays_at_eight = CronSchedule::parse("0 8 * * 1-5").unwrap();
        let amsterdam: chrono_tz::Tz = "Europe/Amsterdam".parse().unwrap();
        // Friday 2025-03-07 09:00 in Amsterdam: next is Monday 08:00 there.
        let friday = amsterdam.with_ymd_and_hms(2025, 3, 7, 9, 0, 0).unwrap();
        let next = weekdays_at_eight.next_after(&friday).unwrap();
        assert_eq!(next, amsterdam.with_ymd_and_hms(2025, 3, 10, 8, 0, 0).unwrap());
        let every_quarter = CronSchedule::parse("5/15 * * * *").unwrap();
        let utc = chrono::Utc.with_ymd_and_hms(2025, 3, 7, 9, 6, 0).unwrap();
        assert_eq!(
            every_quarter.next_after(&utc).unwrap(),
            chrono::Utc.with_ymd_and_hms(2025, 3, 7, 9, 20, 0).unwrap()
        );
    }

    #[test]
    fn invalid_schedules_cannot_be_deserialized() {
        assert!(serde_json::from_str::<CronSchedule>("\"61 * * * *\"").is_err());
        let schedule = CronSchedule::parse("0 8 * * 1-5").unwrap();
        let json = serde_json::to_string(&schedule).unwrap();
        assert_eq!(serde_json::from_str::<CronSchedule>(&json).unwrap(), schedule);
    }
}
