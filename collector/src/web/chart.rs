//! Score trends as small inline SVG charts, drawn on the server (no JavaScript): the last 90
//! days of daily snapshots, 0 to 100.

use std::fmt::Write as _;

use chrono::NaiveDate;

/// Days a trend covers.
pub const DAYS: i64 = 90;

/// A chart's size.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Width in CSS pixels.
    pub width: u32,
    /// Height in CSS pixels.
    pub height: u32,
}

/// A small chart for a table cell.
pub const SPARK: Size = Size {
    width: 120,
    height: 28,
};

/// A chart for a page section.
pub const WIDE: Size = Size {
    width: 640,
    height: 160,
};

/// The trend of `points` (day, score) over the [`DAYS`] days up to `today`, as an SVG, and its
/// text alternative (first and last score in the window). Days without a snapshot are gaps in
/// time, not zeros: the line joins the days that have one.
pub fn trend(points: &[(NaiveDate, f64)], today: NaiveDate, size: Size) -> (String, String) {
    let first_day = today - chrono::Duration::days(DAYS - 1);
    let mut shown: Vec<(i64, f64)> = points
        .iter()
        .filter(|(d, _)| *d >= first_day && *d <= today)
        .map(|(d, s)| ((*d - first_day).num_days(), s.clamp(0.0, 100.0)))
        .collect();
    shown.sort_by_key(|(d, _)| *d);
    let text = match (shown.first(), shown.last()) {
        (Some((_, a)), Some((_, b))) if shown.len() > 1 => format!(
            "{a:.1} to {b:.1} over {} days with a snapshot in the last {DAYS}",
            shown.len()
        ),
        (Some((_, a)), _) => format!("{a:.1}; one snapshot in the last {DAYS} days"),
        _ => format!("no snapshot in the last {DAYS} days"),
    };
    let (w, h) = (f64::from(size.width), f64::from(size.height));
    let pad = 3.0;
    let x = |day: i64| pad + (w - 2.0 * pad) * day as f64 / (DAYS - 1) as f64;
    let y = |score: f64| pad + (h - 2.0 * pad) * (100.0 - score) / 100.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="trend" role="img" width="{}" height="{}" viewBox="0 0 {} {}"><title>Score trend: {}</title>"#,
        size.width, size.height, size.width, size.height, text
    );
    let _ = write!(
        svg,
        r#"<rect x="0" y="0" width="{w}" height="{h}" class="frame"/><line x1="{pad}" x2="{:.1}" y1="{:.1}" y2="{:.1}" class="mid"/>"#,
        w - pad,
        y(50.0),
        y(50.0)
    );
    match shown.as_slice() {
        [] => {}
        [(d, s)] => {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" class="line"/>"#,
                x(*d),
                y(*s)
            );
        }
        many => {
            let pts: Vec<String> = many
                .iter()
                .map(|(d, s)| format!("{:.1},{:.1}", x(*d), y(*s)))
                .collect();
            let _ = write!(
                svg,
                r#"<polyline points="{}" class="line" fill="none"/>"#,
                pts.join(" ")
            );
        }
    }
    svg.push_str("</svg>");
    (text, svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn a_trend_places_days_and_scores_and_says_what_it_shows() {
        let today = day("2026-12-01");
        let points = [
            (day("2026-08-01"), 10.0), // before the window: left out
            (day("2026-09-03"), 100.0),
            (day("2026-12-01"), 0.0),
        ];
        let (text, svg) = trend(&points, today, SPARK);
        assert_eq!(
            text,
            "100.0 to 0.0 over 2 days with a snapshot in the last 90"
        );
        // 2026-09-03 is the window's first day (x = pad) at 100 (y = pad); today is the
        // last (x = width - pad) at 0 (y = height - pad).
        assert!(svg.contains(r#"points="3.0,3.0 117.0,25.0""#), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<title>Score trend: 100.0 to 0.0"));
    }

    #[test]
    fn one_point_is_a_dot_and_none_is_said() {
        let today = day("2026-12-01");
        let (text, svg) = trend(&[(today, 50.0)], today, WIDE);
        assert!(svg.contains("<circle"), "{svg}");
        assert!(text.starts_with("50.0; one snapshot"));
        let (text, svg) = trend(&[], today, WIDE);
        assert!(!svg.contains("<polyline") && !svg.contains("<circle"));
        assert_eq!(text, "no snapshot in the last 90 days");
    }
}
