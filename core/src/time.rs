//! UTC calendar time from Unix time, for names and log lines (no time-zone database needed).

/// A UTC date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millisecond: u32,
}

impl UtcTime {
    /// From milliseconds since the Unix epoch (Howard Hinnant's civil-from-days).
    pub fn from_unix_ms(ms: i64) -> Self {
        let secs = ms.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        Self {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            millisecond: ms.rem_euclid(1000) as u32,
        }
    }

    /// From a `SystemTime` (times before the epoch count as the epoch).
    pub fn from_system_time(time: std::time::SystemTime) -> Self {
        let ms = time
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Self::from_unix_ms(ms)
    }

    /// `2026-11-22T20:30:00.123Z`.
    pub fn rfc3339_millis(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millisecond
        )
    }

    /// `20261122-203000`, for resource names.
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            UtcTime::from_unix_ms(0).rfc3339_millis(),
            "1970-01-01T00:00:00.000Z"
        );
        let t = UtcTime::from_unix_ms(1_795_379_400_123);
        assert_eq!(t.rfc3339_millis(), "2026-11-22T20:30:00.123Z");
        assert_eq!(t.compact(), "20261122-203000");
        assert_eq!(
            UtcTime::from_unix_ms(951_782_400_000).rfc3339_millis(),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
