//! Cron schedules of `tributary run`: parsing `sources.<name>.schedule` exactly as
//! tokio-cron-scheduler does (six fields, seconds first, UTC, both day fields must match
//! when both are restricted), the next tick (always a whole second), whether a source is
//! overdue at start, the longest gap between ticks (for alerts), and how such moments read
//! in logs. It does not run anything; `daemon`
//! does.

use std::fmt;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// Parses a schedule, or explains what is wrong with it.
pub fn parse(expression: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expression)
        .map_err(|e| {
            format!(
                "`{expression}` is not a cron expression with seconds \
                 (\"sec min hour day-of-month month day-of-week\", e.g. \"0 */15 * * * *\"): {e}"
            )
        })
}

/// The first tick strictly after `after`; `None` for a schedule that never fires again.
/// Ticks are whole seconds: croner keeps the fraction of the moment it starts from, so the
/// search starts from `after` truncated to its second (a tick in that second before `after`
/// has passed, one at its start is not strictly after it).
pub fn next_tick(cron: &Cron, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&after.trunc_subsecs(0), false)
        .ok()
}

/// A moment as logs show it: RFC 3339 in UTC (`2026-11-21T10:15:00Z`, a fraction only when
/// it has one), or `none`.
pub fn display(at: Option<DateTime<Utc>>) -> impl fmt::Display {
    struct Moment(Option<DateTime<Utc>>);
    impl fmt::Display for Moment {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Some(at) => f.write_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
                None => f.write_str("none"),
            }
        }
    }
    Moment(at)
}

/// Whether a source should run at once when the daemon starts: it never succeeded, or a
/// tick of its schedule has passed since its last success (nothing ran then). A schedule
/// with gaps (weekdays only, office hours) is not overdue during a gap.
pub fn overdue(cron: &Cron, last_success: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    match last_success {
        None => true,
        Some(at) => next_tick(cron, at).is_some_and(|tick| tick <= now),
    }
}

/// Ticks [`interval`] looks at, at most: a week of a schedule firing every minute. A denser
/// schedule is taken as regular over its first ticks.
const INTERVAL_TICKS: usize = 10_080;

/// The schedule's interval, as alerts need it: the longest gap between two consecutive ticks
/// over a week from the first tick after `after` (and the gap to the first tick beyond that
/// week), so that a weekday or office-hours schedule counts its weekend or night; a monthly
/// or yearly one, the gap between its next two ticks. At most [`INTERVAL_TICKS`] ticks are
/// looked at. `None` for a schedule that fires less than twice from now on.
pub fn interval(cron: &Cron, after: DateTime<Utc>) -> Option<chrono::Duration> {
    let first = next_tick(cron, after)?;
    let week_end = first + chrono::Duration::weeks(1);
    let (mut tick, mut longest) = (first, None::<chrono::Duration>);
    for _ in 0..INTERVAL_TICKS {
        let Some(next) = next_tick(cron, tick) else {
            break;
        };
        longest = Some(longest.map_or(next - tick, |l| l.max(next - tick)));
        if next > week_end {
            break;
        }
        tick = next;
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, h, m, s).unwrap()
    }

    #[test]
    fn six_fields_with_seconds_parse_and_five_do_not() {
        assert!(parse("0 */15 * * * *").is_ok());
        assert!(parse("*/2 * * * * *").is_ok());
        let e = parse("*/15 * * * *").unwrap_err();
        assert!(e.contains("`*/15 * * * *`"), "{e}");
        assert!(parse("every hour").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn next_tick_follows_the_expression() {
        let cron = parse("0 */15 * * * *").unwrap();
        assert_eq!(next_tick(&cron, at(10, 7, 3)), Some(at(10, 15, 0)));
        assert_eq!(next_tick(&cron, at(10, 15, 0)), Some(at(10, 30, 0)));
    }

    #[test]
    fn the_next_tick_is_a_whole_second_whatever_the_fraction_of_now() {
        let hourly = parse("0 0 * * * *").unwrap();
        let now = at(20, 59, 59) + chrono::Duration::nanoseconds(982_321_997);
        let next = next_tick(&hourly, now).unwrap();
        assert_eq!(next, at(21, 0, 0));
        assert_eq!(next.timestamp_subsec_nanos(), 0);
        // Within the second of a tick, the tick has passed: the next one follows.
        let every_second = parse("* * * * * *").unwrap();
        let in_a_tick = at(10, 0, 5) + chrono::Duration::milliseconds(500);
        assert_eq!(next_tick(&every_second, in_a_tick), Some(at(10, 0, 6)));
        assert_eq!(next_tick(&every_second, at(10, 0, 5)), Some(at(10, 0, 6)));
    }

    #[test]
    fn moments_display_without_some_or_fractions_they_lack() {
        assert_eq!(
            display(Some(at(21, 0, 0))).to_string(),
            "2026-11-21T21:00:00Z"
        );
        assert_eq!(display(None).to_string(), "none");
        let hourly = parse("0 0 * * * *").unwrap();
        let now = at(20, 15, 0) + chrono::Duration::nanoseconds(1);
        assert_eq!(
            display(next_tick(&hourly, now)).to_string(),
            "2026-11-21T21:00:00Z"
        );
    }

    #[test]
    fn a_source_is_overdue_when_it_missed_a_tick_or_never_succeeded() {
        let hourly = parse("0 0 * * * *").unwrap();
        let now = at(12, 10, 0);
        assert!(overdue(&hourly, None, now));
        assert!(!overdue(&hourly, Some(at(12, 0, 5)), now));
        assert!(
            overdue(&hourly, Some(at(11, 30, 0)), now),
            "the 12:00 tick was missed"
        );
        // 2026-11-21 is a Saturday: the last weekday tick was Friday 18:00.
        let office = parse("0 0 6-18 * * Mon-Fri").unwrap();
        let friday_evening = Utc.with_ymd_and_hms(2026, 11, 20, 18, 0, 30).unwrap();
        assert!(!overdue(&office, Some(friday_evening), now));
    }

    #[test]
    fn the_interval_is_the_longest_gap_between_ticks() {
        let hours = |h: i64| Some(chrono::Duration::hours(h));
        let now = at(12, 10, 0);
        assert_eq!(interval(&parse("0 0 * * * *").unwrap(), now), hours(1));
        assert_eq!(
            interval(&parse("0 */10 * * * *").unwrap(), now),
            Some(chrono::Duration::minutes(10))
        );
        assert_eq!(
            interval(&parse("* * * * * *").unwrap(), now),
            Some(chrono::Duration::seconds(1))
        );
        assert_eq!(interval(&parse("0 30 2 * * *").unwrap(), now), hours(24));
        // Friday 18:00 to Monday 06:00, whichever day it is asked on.
        let office = parse("0 0 6-18 * * Mon-Fri").unwrap();
        assert_eq!(interval(&office, now), hours(60));
        assert_eq!(
            interval(&office, at(12, 10, 0) + chrono::Duration::days(3)),
            hours(60)
        );
        // Yearly: from 2027-01-01 to 2028-01-01.
        assert_eq!(
            interval(&parse("0 0 0 1 1 *").unwrap(), now),
            Some(chrono::Duration::days(365))
        );
    }
}
