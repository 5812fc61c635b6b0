//! Backup and maintenance windows: parsing, length and overlap, for validating the config.

/// Minutes in a day and in a week.
const DAY: u32 = 24 * 60;
const WEEK: u32 = 7 * DAY;

fn time(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn day(text: &str) -> Option<u32> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|d| *d == text.to_ascii_lowercase())
        .map(|i| i as u32)
}

/// A daily window `hh:mm-hh:mm` (UTC) as (start, end) minutes of the day; may wrap midnight.
pub fn daily(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once('-')?;
    Some((time(a)?, time(b)?))
}

/// A weekly window `ddd:hh:mm-ddd:hh:mm` (UTC) as (start, end) minutes of the week.
pub fn weekly(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once('-')?;
    let parse = |s: &str| {
        let (d, t) = s.split_once(':')?;
        Some(day(d)? * DAY + time(t)?)
    };
    Some((parse(a)?, parse(b)?))
}

/// Length in minutes of a window on a cycle of `period` minutes.
pub fn length((start, end): (u32, u32), period: u32) -> u32 {
    (end + period - start) % period
}

/// Whether a daily window overlaps a weekly one (checked on every day of the week).
pub fn overlaps(daily: (u32, u32), weekly: (u32, u32)) -> bool {
    let weekly_len = length(weekly, WEEK);
    let daily_len = length(daily, DAY);
    (0..7).any(|d| {
        let start = d * DAY + daily.0;
        // Two intervals on the week's circle overlap when either starts inside the other.
        let inside = |point: u32, from: u32, len: u32| (point + WEEK - from) % WEEK < len;
        inside(start, weekly.0, weekly_len) || inside(weekly.0, start % WEEK, daily_len)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse() {
        assert_eq!(daily("01:00-03:00"), Some((60, 180)));
        assert_eq!(
            weekly("sun:05:00-sun:06:00"),
            Some((6 * DAY + 300, 6 * DAY + 360))
        );
        assert_eq!(daily("1:00-03:00"), None);
        assert_eq!(daily("25:00-03:00"), None);
        assert_eq!(weekly("xyz:05:00-sun:06:00"), None);
    }

    #[test]
    fn lengths_wrap_midnight() {
        assert_eq!(length(daily("23:30-00:10").unwrap(), DAY), 40);
        assert_eq!(length(daily("01:00-01:20").unwrap(), DAY), 20);
    }

    #[test]
    fn overlap_on_any_day() {
        let backup = daily("01:00-03:00").unwrap();
        assert!(overlaps(backup, weekly("sun:02:00-sun:04:00").unwrap()));
        assert!(overlaps(backup, weekly("wed:00:30-wed:01:30").unwrap()));
        assert!(!overlaps(backup, weekly("sun:05:00-sun:06:00").unwrap()));
        assert!(!overlaps(backup, weekly("sat:03:00-sat:04:00").unwrap()));
        // Wrapping midnight: 23:00-01:30 daily meets mon:01:00.
        assert!(overlaps(
            daily("23:00-01:30").unwrap(),
            weekly("mon:01:00-mon:02:00").unwrap()
        ));
    }
}
