//! An SVG plot of bytes per difference against d, log-log, one line per
//! implementation plus the 32-byte floor — drawn by hand so that BENCHMARKS.md
//! needs nothing but this crate.

use crate::{IMPLS, Row};
use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// The plot of every reconcile row with d ≥ 1.
pub fn bytes_per_difference_svg(rows: &[Row]) -> String {
    let series = series(rows);
    let axes = Axes::fit(series.iter().flat_map(|(_, p)| p.iter().copied()));
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{}" y="22" font-size="15" text-anchor="middle">Bytes on the wire per missing transaction (both directions)</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0
    );
    axes.draw_grid(&mut svg);
    let floor_y = axes.y(32.0);
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{floor_y:.1}" x2="{:.1}" y2="{floor_y:.1}" stroke="#555" stroke-dasharray="6 4"/>"##,
        WIDTH - RIGHT
    );
    let legend_x = WIDTH - RIGHT + 15.0;
    for (k, (name, points)) in series.iter().enumerate() {
        axes.draw_series(&mut svg, k, name, points);
    }
    let ly = TOP + 20.0 + 22.0 * series.len() as f64;
    let _ = writeln!(
        svg,
        r##"<line x1="{legend_x}" y1="{ly}" x2="{}" y2="{ly}" stroke="#555" stroke-dasharray="6 4"/><text x="{}" y="{}">floor, 32 B</text>"##,
        legend_x + 24.0,
        legend_x + 30.0,
        ly + 4.0
    );
    svg.push_str("</svg>\n");
    svg
}

/// Each implementation's points: (d, bytes / d) for d ≥ 1.
fn series(rows: &[Row]) -> Vec<(&'static str, Vec<(f64, f64)>)> {
    IMPLS
        .iter()
        .map(|name| {
            let points = rows
                .iter()
                .filter_map(|r| match r {
                    Row::Reconcile {
                        implementation,
                        d,
                        bytes,
                        ..
                    } if implementation == name && *d > 0 => {
                        Some((*d as f64, *bytes as f64 / *d as f64))
                    }
                    _ => None,
                })
                .collect();
            (*name, points)
        })
        .collect()
}

/// Log-log axes, each from a decade to a decade.
struct Axes {
    x_min: f64,
    x_max: f64,
    y_min: f64,
    y_max: f64,
}

impl Axes {
    /// Axes holding every point, d from 1 to at least 10, bytes / d around
    /// the 32-byte floor up to at least 100.
    fn fit(points: impl Iterator<Item = (f64, f64)>) -> Axes {
        let decade = |v: f64, up: bool| {
            let e = v.log10();
            10f64.powf(if up { e.ceil() } else { e.floor() })
        };
        let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) = (1.0f64, 1.0f64, 32.0f64, 32.0f64);
        for (x, y) in points {
            (x_lo, x_hi) = (x_lo.min(x), x_hi.max(x));
            (y_lo, y_hi) = (y_lo.min(y), y_hi.max(y));
        }
        Axes {
            x_min: decade(x_lo, false),
            x_max: decade(x_hi, true).max(10.0),
            y_min: decade(y_lo, false),
            y_max: decade(y_hi, true).max(100.0),
        }
    }

    fn x(&self, v: f64) -> f64 {
        LEFT + (v.log10() - self.x_min.log10()) / (self.x_max.log10() - self.x_min.log10())
            * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        HEIGHT
            - BOTTOM
            - (v.log10() - self.y_min.log10()) / (self.y_max.log10() - self.y_min.log10())
                * (HEIGHT - TOP - BOTTOM)
    }

    /// A grid line and a label at every decade, and the axes' titles.
    fn draw_grid(&self, svg: &mut String) {
        let mut tick = self.x_min;
        while tick <= self.x_max * 1.0001 {
            let px = self.x(tick);
            let _ = writeln!(
                svg,
                r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                HEIGHT - BOTTOM,
                HEIGHT - BOTTOM + 18.0,
                tick as u64
            );
            tick *= 10.0;
        }
        let mut tick = self.y_min;
        while tick <= self.y_max * 1.0001 {
            let py = self.y(tick);
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                WIDTH - RIGHT,
                LEFT - 6.0,
                py + 4.0,
                tick as u64
            );
            tick *= 10.0;
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">d, transactions the requester lacks</text><text transform="translate(20 {:.1}) rotate(-90)" text-anchor="middle">bytes / d</text>"#,
            (LEFT + WIDTH - RIGHT) / 2.0,
            HEIGHT - 15.0,
            (TOP + HEIGHT - BOTTOM) / 2.0
        );
    }

    /// The `k`th implementation's line, points and legend entry.
    fn draw_series(&self, svg: &mut String, k: usize, name: &str, points: &[(f64, f64)]) {
        let colour = COLOURS[k % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|(d, b)| format!("{:.1},{:.1}", self.x(*d), self.y(*b)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for (d, b) in points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                self.x(*d),
                self.y(*b)
            );
        }
        let legend_x = WIDTH - RIGHT + 15.0;
        let ly = TOP + 20.0 + 22.0 * k as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{legend_x}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{name}</text>"#,
            legend_x + 24.0,
            legend_x + 30.0,
            ly + 4.0
        );
    }
}
