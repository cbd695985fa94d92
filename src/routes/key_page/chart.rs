//! The Usage chart: verifications per hour (24 hours) or per day (7 and 30 days), valid and
//! refused stacked, drawn here as plain numbers for an inline SVG: no chart library, no script.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::db::usage::hour_of;
use crate::services::usage::HourCount;

/// Valid bars: blue-700, 6.3:1 against the page background (#f6f7f9), 6.7:1 against white.
pub const VALID_COLOUR: &str = "#1d4ed8";
/// Refused bars: amber-700, 4.7:1 against the page background, 5.0:1 against white.
pub const REFUSED_COLOUR: &str = "#b45309";

/// What the period links offer (`?period=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Period {
    #[default]
    Day,
    Week,
    Month,
}

impl Period {
    pub const ALL: [Period; 3] = [Period::Day, Period::Week, Period::Month];

    /// An unknown value shows the default rather than fail: a hand-edited URL still works.
    pub fn parse(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|p| p.param() == s)
            .unwrap_or_default()
    }
    pub fn param(self) -> &'static str {
        match self {
            Period::Day => "24h",
            Period::Week => "7d",
            Period::Month => "30d",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Period::Day => "24 hours",
            Period::Week => "7 days",
            Period::Month => "30 days",
        }
    }
    /// How many bars: hours for a day, days otherwise.
    pub fn bars(self) -> i64 {
        match self {
            Period::Day => 24,
            Period::Week => 7,
            Period::Month => 30,
        }
    }
    /// How many hours of counts the chart needs, ending with the hour of `now`: whole UTC days
    /// for the daily periods (today so far included).
    pub fn hours_needed(self, now: DateTime<Utc>) -> i64 {
        match self {
            Period::Day => 24,
            _ => {
                let first_day = now.date_naive() - TimeDelta::days(self.bars() - 1);
                let start = first_day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
                start.map_or(self.bars() * 24, |s| (hour_of(now) - s).num_hours() + 1)
            }
        }
    }
}

/// One bar, with its geometry in the SVG's user units.
pub struct Bar {
    /// `14:00` for an hour, `Nov 23` for a day.
    pub label: String,
    /// The same, spelled out for the table: `2026-11-23 14:00 UTC`, `2026-11-23`.
    pub long_label: String,
    pub valid: i64,
    pub refused: i64,
    pub x: f64,
    pub valid_y: f64,
    pub valid_h: f64,
    pub refused_y: f64,
    pub refused_h: f64,
    /// Axis labels on every few bars only, so they do not overlap.
    pub show_label: bool,
}

pub struct Chart {
    pub period: Period,
    pub bars: Vec<Bar>,
    pub total_valid: i64,
    pub total_refused: i64,
    pub max: i64,
    pub aria_label: String,
    pub bar_width: f64,
    pub valid_colour: &'static str,
    pub refused_colour: &'static str,
}

pub const WIDTH: f64 = 720.0;
pub const PLOT_HEIGHT: f64 = 160.0;
pub const TOP: f64 = 8.0;

impl Chart {
    /// `counts` oldest first, one per hour, as `services::usage::hourly` returns them.
    pub fn new(period: Period, counts: &[HourCount]) -> Self {
        let buckets: Vec<(String, String, i64, i64)> = match period {
            Period::Day => counts
                .iter()
                .map(|c| {
                    (
                        c.hour.format("%H:00").to_string(),
                        c.hour.format("%Y-%m-%d %H:00 UTC").to_string(),
                        c.valid,
                        c.refused,
                    )
                })
                .collect(),
            Period::Week | Period::Month => {
                let mut days: Vec<(NaiveDate, i64, i64)> = Vec::new();
                for c in counts {
                    let day = c.hour.date_naive();
                    match days.last_mut() {
                        Some((d, v, r)) if *d == day => {
                            *v += c.valid;
                            *r += c.refused;
                        }
                        _ => days.push((day, c.valid, c.refused)),
                    }
                }
                days.into_iter()
                    .map(|(d, v, r)| {
                        (
                            d.format("%b %d").to_string(),
                            d.format("%Y-%m-%d").to_string(),
                            v,
                            r,
                        )
                    })
                    .collect()
            }
        };
        let max = buckets
            .iter()
            .map(|(_, _, v, r)| v + r)
            .max()
            .unwrap_or(0)
            .max(1);
        let slot = WIDTH / buckets.len().max(1) as f64;
        let bar_width = (slot * 0.8).max(1.0);
        let every = match period {
            Period::Day => 3,
            Period::Week => 1,
            Period::Month => 5,
        };
        let n = buckets.len();
        let bars: Vec<Bar> = buckets
            .into_iter()
            .enumerate()
            .map(|(i, (label, long_label, valid, refused))| {
                let scale = |count: i64| count as f64 / max as f64 * PLOT_HEIGHT;
                let (valid_h, refused_h) = (scale(valid), scale(refused));
                let valid_y = TOP + PLOT_HEIGHT - valid_h;
                Bar {
                    label,
                    long_label,
                    valid,
                    refused,
                    x: i as f64 * slot + (slot - bar_width) / 2.0,
                    valid_y,
                    valid_h,
                    refused_y: valid_y - refused_h,
                    refused_h,
                    show_label: (n - 1 - i).is_multiple_of(every),
                }
            })
            .collect();
        let total_valid = bars.iter().map(|b| b.valid).sum();
        let total_refused = bars.iter().map(|b| b.refused).sum();
        let unit = match period {
            Period::Day => "hourly",
            _ => "daily",
        };
        Self {
            aria_label: format!(
                "Verifications over the last {}: {} valid, {} refused ({} {unit} bars, valid and refused stacked).",
                period.label(),
                total_valid,
                total_refused,
                bars.len(),
            ),
            period,
            bars,
            total_valid,
            total_refused,
            max,
            bar_width,
            valid_colour: VALID_COLOUR,
            refused_colour: REFUSED_COLOUR,
        }
    }

    /// The SVG's height: the plot, then a line of axis labels.
    pub fn height(&self) -> f64 {
        TOP + PLOT_HEIGHT + 24.0
    }
    pub fn width(&self) -> f64 {
        WIDTH
    }
    pub fn axis_y(&self) -> f64 {
        TOP + PLOT_HEIGHT
    }
    pub fn label_y(&self) -> f64 {
        TOP + PLOT_HEIGHT + 16.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hours(from: &str, n: i64) -> Vec<HourCount> {
        (0..n)
            .map(|i| HourCount {
                hour: at(from) + TimeDelta::hours(i),
                valid: i,
                refused: 1,
            })
            .collect()
    }

    #[test]
    fn a_day_has_24_hourly_bars_and_its_label_states_the_totals() {
        let chart = Chart::new(Period::Day, &hours("2026-11-22T11:00:00Z", 24));
        assert_eq!(chart.bars.len(), 24);
        assert_eq!((chart.total_valid, chart.total_refused), (276, 24));
        assert!(chart.aria_label.contains("276 valid, 24 refused"));
        let tallest = chart.bars.last().unwrap();
        assert!((tallest.valid_h + tallest.refused_h - PLOT_HEIGHT).abs() < 1e-9);
        assert_eq!(tallest.long_label, "2026-11-23 10:00 UTC");
    }

    #[test]
    fn a_week_has_7_daily_bars_of_whole_utc_days() {
        let now = at("2026-11-23T10:30:00Z");
        let needed = Period::Week.hours_needed(now);
        assert_eq!(needed, 6 * 24 + 11);
        let chart = Chart::new(Period::Week, &hours("2026-11-17T00:00:00Z", needed));
        assert_eq!(chart.bars.len(), 7);
        assert_eq!(chart.bars[0].long_label, "2026-11-17");
        assert_eq!(chart.bars[6].refused, 11);
        assert_eq!(Period::Month.hours_needed(now), 29 * 24 + 11);
    }

    #[test]
    fn unknown_periods_fall_back_to_24_hours() {
        assert_eq!(Period::parse("7d"), Period::Week);
        assert_eq!(Period::parse("30d"), Period::Month);
        assert_eq!(Period::parse("nonsense"), Period::Day);
    }
}
