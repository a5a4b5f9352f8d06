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
    let series: Vec<(&str, Vec<(f64, f64)>)> = IMPLS
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
        .collect();
    let all: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.clone()).collect();
    let decade = |v: f64, up: bool| {
        let e = v.log10();
        10f64.powf(if up { e.ceil() } else { e.floor() })
    };
    let (x_min, x_max) = (
        decade(
            all.iter().map(|p| p.0).fold(f64::MAX, f64::min).min(1.0),
            false,
        ),
        decade(all.iter().map(|p| p.0).fold(1.0, f64::max), true).max(10.0),
    );
    let (y_min, y_max) = (
        decade(all.iter().map(|p| p.1).fold(32.0, f64::min), false),
        decade(all.iter().map(|p| p.1).fold(32.0, f64::max), true).max(100.0),
    );
    let x = |v: f64| {
        LEFT + (v.log10() - x_min.log10()) / (x_max.log10() - x_min.log10())
            * (WIDTH - LEFT - RIGHT)
    };
    let y = |v: f64| {
        HEIGHT
            - BOTTOM
            - (v.log10() - y_min.log10()) / (y_max.log10() - y_min.log10())
                * (HEIGHT - TOP - BOTTOM)
    };
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
    let mut tick = x_min;
    while tick <= x_max * 1.0001 {
        let px = x(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 18.0,
            tick as u64
        );
        tick *= 10.0;
    }
    let mut tick = y_min;
    while tick <= y_max * 1.0001 {
        let py = y(tick);
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
    let floor_y = y(32.0);
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{floor_y:.1}" x2="{:.1}" y2="{floor_y:.1}" stroke="#555" stroke-dasharray="6 4"/>"##,
        WIDTH - RIGHT
    );
    let legend_x = WIDTH - RIGHT + 15.0;
    for (k, (name, points)) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|(d, b)| format!("{:.1},{:.1}", x(*d), y(*b)))
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
                x(*d),
                y(*b)
            );
        }
        let ly = TOP + 20.0 + 22.0 * k as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{legend_x}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{name}</text>"#,
            legend_x + 24.0,
            legend_x + 30.0,
            ly + 4.0
        );
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
