//! SVG drawing shared by the latency chart of `--svg` and the charts of the HTML report:
//! a canvas with a plot area, linear scales, grid lines, lines, bars and a legend.

use std::fmt::Write as _;

/// Series colours, in order.
pub(crate) const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// Escapes text for XML and HTML, in content and in quoted attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A round step for about `n` ticks over `span`: 1, 2 or 5 times a power of ten.
pub(crate) fn nice_step(span: f64, n: u32) -> f64 {
    let raw = span.abs() / f64::from(n.max(1));
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// The top of an axis from 0 showing `v`: a whole number of round steps (about `n`).
pub(crate) fn nice_max(v: f64, n: u32) -> f64 {
    let step = nice_step(v, n);
    (v / step).ceil().max(1.0) * step
}

/// A number for an axis label: no decimals from 10 up, else up to 2, trailing zeros cut.
pub(crate) fn tick_label(v: f64) -> String {
    if v.abs() >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// An SVG document being drawn: a `w` x `h` canvas whose plot area is inset by the margins,
/// with `x` and `y` ranges mapped linearly onto it.
pub(crate) struct Plot {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x: (f64, f64),
    y: (f64, f64),
    out: String,
}

impl Plot {
    /// Starts a document with a white background and `title` centred above the plot area;
    /// `margins` are left, right (where the legend goes), top and bottom.
    pub(crate) fn new(
        size: (f64, f64),
        margins: [f64; 4],
        x: (f64, f64),
        y: (f64, f64),
        title: &str,
    ) -> Plot {
        let (w, h) = size;
        let [left, right, top, bottom] = margins;
        let mut out = String::new();
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(out, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
        let _ = writeln!(
            out,
            r#"<text x="{}" y="18" text-anchor="middle" font-size="14">{}</text>"#,
            (w - right + left) / 2.0,
            escape(title)
        );
        Plot {
            w,
            h,
            left,
            right,
            top,
            bottom,
            x,
            y,
            out,
        }
    }

    /// The canvas x of data `x`.
    pub(crate) fn px(&self, x: f64) -> f64 {
        let span = (self.x.1 - self.x.0).max(f64::MIN_POSITIVE);
        self.left + (x - self.x.0) / span * (self.w - self.left - self.right)
    }

    /// The canvas y of data `y`.
    pub(crate) fn py(&self, y: f64) -> f64 {
        let span = (self.y.1 - self.y.0).max(f64::MIN_POSITIVE);
        self.h - self.bottom - (y - self.y.0) / span * (self.h - self.top - self.bottom)
    }

    /// Vertical grid lines at data `x`, labelled below the plot area.
    pub(crate) fn x_ticks(&mut self, ticks: &[(f64, String)]) {
        for (x, name) in ticks {
            let _ = writeln!(
                self.out,
                r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#ddd"/><text x="{0:.1}" y="{3}" text-anchor="middle">{4}</text>"##,
                self.px(*x),
                self.top,
                self.h - self.bottom,
                self.h - self.bottom + 18.0,
                escape(name)
            );
        }
    }

    /// Horizontal grid lines at data `y`, labelled left of the plot area.
    pub(crate) fn y_ticks(&mut self, ticks: &[(f64, String)]) {
        for (y, name) in ticks {
            let _ = writeln!(
                self.out,
                r##"<line x1="{0}" y1="{1:.1}" x2="{2}" y2="{1:.1}" stroke="#ddd"/><text x="{3}" y="{4:.1}" text-anchor="end">{5}</text>"##,
                self.left,
                self.py(*y),
                self.w - self.right,
                self.left - 6.0,
                self.py(*y) + 4.0,
                escape(name)
            );
        }
    }

    /// Grid lines every round step of the y range, from its bottom.
    pub(crate) fn y_grid(&mut self, n: u32) {
        let step = nice_step(self.y.1 - self.y.0, n);
        let ticks: Vec<(f64, String)> = (0..=n * 3)
            .map(|i| self.y.0 + step * f64::from(i))
            // A tick a rounding error beyond the end still shows.
            .take_while(|y| *y <= self.y.1 + step * 1e-3)
            .map(|y| (y, tick_label(y)))
            .collect();
        self.y_ticks(&ticks);
    }

    /// Grid lines every round step of the x range, from its left end.
    pub(crate) fn x_grid(&mut self, n: u32) {
        let step = nice_step(self.x.1 - self.x.0, n);
        let ticks: Vec<(f64, String)> = (0..=n * 3)
            .map(|i| self.x.0 + step * f64::from(i))
            .take_while(|x| *x <= self.x.1 + step * 1e-3)
            .map(|x| (x, tick_label(x)))
            .collect();
        self.x_ticks(&ticks);
    }

    /// Names the x axis, below its tick labels.
    pub(crate) fn x_label(&mut self, text: &str) {
        let _ = writeln!(
            self.out,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            (self.w - self.right + self.left) / 2.0,
            self.h - 12.0,
            escape(text)
        );
    }

    /// A line through data points; `None` points break it. A lone point is drawn as a dot.
    pub(crate) fn line(&mut self, points: &[Option<(f64, f64)>], color: &str, dashed: bool) {
        let dash = if dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        for run in points.split(Option::is_none) {
            let pts: Vec<String> = run
                .iter()
                .flatten()
                .map(|(x, y)| format!("{:.1},{:.1}", self.px(*x), self.py(*y)))
                .collect();
            match pts.len() {
                0 => {}
                1 => {
                    let (x, y) = run[0].unwrap_or_default();
                    let _ = writeln!(
                        self.out,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{color}"/>"#,
                        self.px(x),
                        self.py(y)
                    );
                }
                _ => {
                    let _ = writeln!(
                        self.out,
                        r#"<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{}"/>"#,
                        pts.join(" ")
                    );
                }
            }
        }
    }

    /// A bar from the bottom of the y range up to `y`, between data `x0` and `x1`, with a
    /// tooltip.
    pub(crate) fn bar(&mut self, (x0, x1): (f64, f64), y: f64, color: &str, tip: &str) {
        let (left, right) = (self.px(x0), self.px(x1));
        let (top, base) = (self.py(y), self.py(self.y.0));
        let _ = writeln!(
            self.out,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{}</title></rect>"#,
            left + 0.5,
            top,
            (right - left - 1.0).max(0.5),
            (base - top).max(0.0),
            escape(tip)
        );
    }

    /// Entry `i` of the legend, in the right margin.
    pub(crate) fn legend(&mut self, i: usize, color: &str, label: &str, dashed: bool) {
        let ly = self.top + 10.0 + 18.0 * i as f64;
        let x = self.w - self.right + 12.0;
        if dashed {
            let _ = writeln!(
                self.out,
                r#"<line x1="{x}" y1="{0}" x2="{1}" y2="{0}" stroke="{color}" stroke-width="2" stroke-dasharray="4 2"/>"#,
                ly - 4.0,
                x + 12.0
            );
        } else {
            let _ = writeln!(
                self.out,
                r#"<rect x="{x}" y="{}" width="12" height="12" fill="{color}"/>"#,
                ly - 10.0
            );
        }
        let _ = writeln!(
            self.out,
            r#"<text x="{}" y="{ly}">{}</text>"#,
            x + 18.0,
            escape(label)
        );
    }

    /// Ends the document.
    pub(crate) fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn round_steps_and_labels() {
        assert_eq!(nice_step(10.0, 5), 2.0);
        assert_eq!(nice_step(1.0, 5), 0.2);
        assert_eq!(nice_step(730.0, 5), 200.0);
        assert_eq!(nice_step(0.0, 5), 1.0);
        assert_eq!(nice_max(730.0, 5), 800.0);
        assert_eq!(nice_max(0.0, 5), 1.0);
        assert_eq!(tick_label(0.2), "0.2");
        assert_eq!(tick_label(1.25), "1.25");
        assert_eq!(tick_label(2000.0), "2000");
    }

    #[test]
    fn broken_lines_and_dots() {
        let mut p = Plot::new((100.0, 100.0), [10.0; 4], (0.0, 4.0), (0.0, 1.0), "t");
        p.line(
            &[Some((0.0, 0.0)), Some((1.0, 1.0)), None, Some((3.0, 0.5))],
            "red",
            false,
        );
        let s = p.finish();
        assert_eq!(s.matches("<polyline").count(), 1);
        assert_eq!(s.matches("<circle").count(), 1);
        assert!(s.ends_with("</svg>\n"));
    }
}
