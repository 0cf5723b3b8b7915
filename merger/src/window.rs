//! Merge windows: local times of day when merges may start.

use chrono::{DateTime, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone)]
pub struct Windows {
    spans: Vec<(u32, u32)>,
    tz: Tz,
}

/// Why `merger.windows` or `merger.timezone` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    #[error("{0:?} is not HH:MM-HH:MM")]
    Format(String),
    #[error("{0:?} is empty")]
    Empty(String),
}

impl Windows {
    pub fn parse(specs: &[String], timezone: &str) -> Result<Windows, WindowError> {
        let tz: Tz = timezone
            .parse()
            .map_err(|_| WindowError::TimeZone(timezone.to_string()))?;
        let mut spans = Vec::new();
        for s in specs {
            let format = || WindowError::Format(s.clone());
            let (a, b) = s.split_once('-').ok_or_else(format)?;
            let t = |x: &str| {
                NaiveTime::parse_from_str(x.trim(), "%H:%M")
                    .map(|t| t.hour() * 60 + t.minute())
                    .map_err(|_| format())
            };
            let (start, end) = (t(a)?, t(b)?);
            if start == end {
                return Err(WindowError::Empty(s.clone()));
            }
            spans.push((start, end));
        }
        Ok(Windows { spans, tz })
    }

    /// Whether a merge may start at `now`. No windows: always.
    pub fn open_at(&self, now: DateTime<Utc>) -> bool {
        if self.spans.is_empty() {
            return true;
        }
        let local = now.with_timezone(&self.tz);
        let minute = local.hour() * 60 + local.minute();
        self.spans.iter().any(|&(start, end)| {
            if start < end {
                (start..end).contains(&minute)
            } else {
                minute >= start || minute < end
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn windows_in_a_time_zone_and_across_midnight() {
        let w = Windows::parse(
            &["01:00-06:00".into(), "22:30-00:30".into()],
            "Asia/Shanghai",
        )
        .unwrap();
        // 18:00 UTC is 02:00 in Shanghai.
        assert!(w.open_at(Utc.with_ymd_and_hms(2026, 1, 1, 18, 0, 0).unwrap()));
        assert!(!w.open_at(Utc.with_ymd_and_hms(2026, 1, 1, 23, 0, 0).unwrap())); // 07:00
        assert!(w.open_at(Utc.with_ymd_and_hms(2026, 1, 1, 14, 45, 0).unwrap())); // 22:45
        assert!(w.open_at(Utc.with_ymd_and_hms(2026, 1, 1, 16, 15, 0).unwrap())); // 00:15
        assert!(!w.open_at(Utc.with_ymd_and_hms(2026, 1, 1, 16, 30, 0).unwrap())); // 00:30 end excluded
        assert!(Windows::parse(&[], "UTC").unwrap().open_at(Utc::now()));
        assert_eq!(
            Windows::parse(&["1-2".into()], "UTC").unwrap_err(),
            WindowError::Format("1-2".into())
        );
        assert_eq!(
            Windows::parse(&["10:00-10:00".into()], "UTC").unwrap_err(),
            WindowError::Empty("10:00-10:00".into())
        );
        assert_eq!(
            Windows::parse(&[], "Mars/Base").unwrap_err(),
            WindowError::TimeZone("Mars/Base".into())
        );
    }

    /// Any window, any instant, in zones with half- and quarter-hour offsets and daylight
    /// saving: open exactly when the local minute of day lies in [start, end) counted modulo
    /// a day (the model is modular arithmetic on the zone's offset, not the code's two cases).
    /// Instants are drawn around the window's edges as often as anywhere else.
    mod properties {
        use super::*;
        use chrono::Offset;
        use proptest::prelude::*;

        const ZONES: [&str; 7] = [
            "UTC",
            "Asia/Shanghai",
            "Asia/Kolkata",
            "Asia/Kathmandu",
            "America/New_York",
            "Europe/Berlin",
            "Australia/Lord_Howe",
        ];

        fn local_minute(tz: Tz, secs: i64) -> i64 {
            let now = Utc.timestamp_opt(secs, 0).unwrap();
            let offset = tz
                .offset_from_utc_datetime(&now.naive_utc())
                .fix()
                .local_minus_utc();
            (secs + offset as i64).div_euclid(60).rem_euclid(1440)
        }

        proptest! {
            #[test]
            fn open_exactly_inside_the_window_modulo_a_day(
                start in 0u32..1440,
                len in 1u32..1440,
                zone in 0usize..ZONES.len(),
                day in 1_500_000_000i64..2_200_000_000i64,
                edge in prop_oneof![Just(0i64), Just(1), Just(2), Just(3), 0i64..1440],
                nudge in -1i64..=1,
            ) {
                let end = (start + len) % 1440;
                let spec = format!("{:02}:{:02}-{:02}:{:02}", start / 60, start % 60, end / 60, end % 60);
                let w = Windows::parse(&[spec], ZONES[zone]).unwrap();
                let tz: Tz = ZONES[zone].parse().unwrap();
                // A local minute at the start, the end, or anywhere, then the instant near it.
                let target = match edge {
                    0 => start as i64,
                    1 => end as i64,
                    2 => start as i64 - 1,
                    3 => end as i64 - 1,
                    m => m,
                } + nudge;
                let secs = day - (local_minute(tz, day) - target) * 60;
                let minute = local_minute(tz, secs) as u32;
                let inside = (minute + 1440 - start) % 1440 < len;
                prop_assert_eq!(w.open_at(Utc.timestamp_opt(secs, 0).unwrap()), inside);
            }
        }
    }
}
