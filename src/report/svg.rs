//! Plain SVG charts written by hand: line charts with min–max bands, and horizontal stacked bars.

use std::fmt::Write;

use super::{esc, si};

const W: f64 = 860.0;
const H: f64 = 460.0;
const ML: f64 = 76.0;
const MR: f64 = 210.0;
const MT: f64 = 44.0;
const MB: f64 = 58.0;
/// Up to this many points a series also gets a dot per point.
const MARKERS_UP_TO: usize = 60;

/// One point of a series: x, mean y, and the min–max of y over seeds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pt {
    pub x: f64,
    pub y: f64,
    pub lo: f64,
    pub hi: f64,
}

pub(super) struct Series {
    pub name: String,
    pub colour: &'static str,
    pub pts: Vec<Pt>,
    /// draw the min–max band (several seeds)
    pub band: bool,
}

pub(super) struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// fixed y range; otherwise from the data (with 0 included when `y_zero`)
    pub y_range: Option<(f64, f64)>,
    pub y_zero: bool,
    pub series: Vec<Series>,
    /// a dashed horizontal reference line: (y, legend label)
    pub reference: Option<(f64, String)>,
}

/// `n`-ish round ticks covering [lo, hi]: (ticks, step).
fn nice_ticks(mut lo: f64, mut hi: f64, n: usize) -> (Vec<f64>, f64) {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo -= pad;
        hi += pad;
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * mag);
    let first = (lo / step + 1e-9).floor();
    let last = (hi / step - 1e-9).ceil();
    let ticks = (0..=((last - first) as usize).min(40)).map(|i| (first + i as f64) * step).collect();
    (ticks, step)
}

/// Tick labels with as many decimals as the step needs (SI suffixes for large numbers).
fn tick_labels(ticks: &[f64], step: f64) -> Vec<String> {
    let big = ticks.iter().fold(0.0f64, |a, t| a.max(t.abs())) >= 1e4;
    let mut d = 0;
    while d < 6 && ((step * 10f64.powi(d)).round() - step * 10f64.powi(d)).abs() > 1e-6 * step * 10f64.powi(d).max(1.0) {
        d += 1;
    }
    ticks
        .iter()
        .map(|&t| {
            let t = if t.abs() < step * 1e-9 { 0.0 } else { t };
            if big {
                si(t, 2)
            } else {
                format!("{:.*}", d as usize, t)
            }
        })
        .collect()
}

fn finite_pt(p: &Pt) -> bool {
    p.x.is_finite() && p.y.is_finite()
}

fn header(out: &mut String, w: f64, h: f64, title: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n\
         <text x=\"{:.1}\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
        w / 2.0,
        esc(title)
    );
}

fn legend_name(s: &str) -> String {
    let n = s.chars().count();
    if n > 24 {
        format!("{}…", s.chars().take(23).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Render a line chart.
pub(super) fn line_chart(c: &LineChart) -> String {
    let (pw, ph) = (W - ML - MR, H - MT - MB);
    let pts = || c.series.iter().flat_map(|s| s.pts.iter()).filter(|p| finite_pt(p));
    let any = pts().next().is_some();
    // x range: from 0 (or below) to the largest x
    let (mut x0, mut x1) = pts().fold((0.0f64, f64::NEG_INFINITY), |(a, b), p| (a.min(p.x), b.max(p.x)));
    if !any {
        (x0, x1) = (0.0, 1.0);
    } else if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let (xt, xs) = nice_ticks(x0, x1, 6);
    (x0, x1) = (xt[0], *xt.last().unwrap());
    let (yt, ys) = match c.y_range {
        Some((a, b)) => nice_ticks(a, b, 5),
        None => {
            let mut lo = f64::INFINITY;
            let mut hi = f64::NEG_INFINITY;
            for s in &c.series {
                for p in s.pts.iter().filter(|p| finite_pt(p)) {
                    for v in [p.y, if s.band { p.lo } else { p.y }, if s.band { p.hi } else { p.y }] {
                        if v.is_finite() {
                            lo = lo.min(v);
                            hi = hi.max(v);
                        }
                    }
                }
            }
            if let Some((y, _)) = c.reference.as_ref().filter(|(y, _)| y.is_finite()) {
                lo = lo.min(*y);
                hi = hi.max(*y);
            }
            if !lo.is_finite() {
                (lo, hi) = (0.0, 1.0);
            }
            if c.y_zero {
                lo = lo.min(0.0);
                hi = hi.max(0.0);
            }
            nice_ticks(lo, hi, 5)
        }
    };
    let (y0, y1) = (yt[0], *yt.last().unwrap());
    let sx = |x: f64| ML + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| MT + ph - (y - y0) / (y1 - y0) * ph;

    let mut o = String::new();
    header(&mut o, W, H, &c.title);
    // clip lines to the plot area, with room for the dots on its edges
    let _ = writeln!(
        o,
        "<defs><clipPath id=\"plot-area\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath></defs>",
        ML - 4.0,
        MT - 4.0,
        pw + 8.0,
        ph + 8.0
    );
    // grid, ticks and labels
    o.push_str("<g class=\"axes\" stroke=\"#e3e3e3\" stroke-width=\"1\">\n");
    for t in &xt {
        let _ = writeln!(o, "<line x1=\"{0:.1}\" y1=\"{MT}\" x2=\"{0:.1}\" y2=\"{1:.1}\"/>", sx(*t), MT + ph);
    }
    for t in &yt {
        let _ = writeln!(o, "<line x1=\"{ML}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\"/>", sy(*t), ML + pw);
    }
    o.push_str("</g>\n<g class=\"ticks\" fill=\"#333333\">\n");
    for (t, l) in xt.iter().zip(tick_labels(&xt, xs)) {
        let _ = writeln!(o, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>", sx(*t), MT + ph + 18.0, esc(&l));
    }
    for (t, l) in yt.iter().zip(tick_labels(&yt, ys)) {
        let _ = writeln!(o, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>", ML - 8.0, sy(*t) + 4.0, esc(&l));
    }
    let _ = writeln!(
        o,
        "</g>\n<rect x=\"{ML}\" y=\"{MT}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#888888\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n\
         <text transform=\"translate({:.1},{:.1}) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">{}</text>",
        ML + pw / 2.0,
        H - 14.0,
        esc(&c.x_label),
        20.0,
        MT + ph / 2.0,
        esc(&c.y_label)
    );
    if !any {
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"14\" fill=\"#888888\">no data</text>",
            ML + pw / 2.0,
            MT + ph / 2.0
        );
    }
    // reference line
    let mut legend = Vec::new();
    if let Some((y, label)) = c.reference.as_ref().filter(|(y, _)| y.is_finite()) {
        let _ = writeln!(
            o,
            "<line class=\"reference\" x1=\"{ML}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#000000\" stroke-width=\"1.5\" stroke-dasharray=\"7 5\"/>",
            sy(*y),
            ML + pw
        );
        legend.push((label.clone(), "#000000", true));
    }
    // series
    o.push_str("<g clip-path=\"url(#plot-area)\">\n");
    for s in &c.series {
        let pts: Vec<&Pt> = s.pts.iter().filter(|p| finite_pt(p)).collect();
        legend.push((s.name.clone(), s.colour, false));
        let _ = writeln!(o, "<g class=\"series\" data-method=\"{}\">\n<title>{}</title>", esc(&s.name), esc(&s.name));
        if s.band && pts.len() > 1 {
            let lo = |p: &Pt| if p.lo.is_finite() { p.lo } else { p.y };
            let hi = |p: &Pt| if p.hi.is_finite() { p.hi } else { p.y };
            let mut poly = String::new();
            for p in pts.iter() {
                let _ = write!(poly, "{:.1},{:.1} ", sx(p.x), sy(hi(p)));
            }
            for p in pts.iter().rev() {
                let _ = write!(poly, "{:.1},{:.1} ", sx(p.x), sy(lo(p)));
            }
            let _ = writeln!(
                o,
                "<polygon class=\"band\" points=\"{}\" fill=\"{}\" fill-opacity=\"0.18\" stroke=\"none\"/>",
                poly.trim_end(),
                s.colour
            );
        }
        let line: Vec<String> = pts.iter().map(|p| format!("{:.1},{:.1}", sx(p.x), sy(p.y))).collect();
        let _ = writeln!(
            o,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2.2\" stroke-linejoin=\"round\"/>",
            line.join(" "),
            s.colour
        );
        if pts.len() <= MARKERS_UP_TO {
            for p in &pts {
                let _ = writeln!(o, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"/>", sx(p.x), sy(p.y), s.colour);
            }
        }
        o.push_str("</g>\n");
    }
    o.push_str("</g>\n");
    draw_legend(&mut o, ML + pw + 18.0, MT + 6.0, &legend);
    o.push_str("</svg>\n");
    o
}

/// Legend entries (label, colour, dashed) as line samples, top-down from (x, y).
fn draw_legend(o: &mut String, x: f64, y: f64, entries: &[(String, &str, bool)]) {
    o.push_str("<g class=\"legend\">\n");
    for (i, (label, colour, dashed)) in entries.iter().enumerate() {
        let yy = y + 10.0 + i as f64 * 22.0;
        let dash = if *dashed { " stroke-dasharray=\"7 5\"" } else { "" };
        let _ = writeln!(
            o,
            "<line x1=\"{x:.1}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"{colour}\" stroke-width=\"3\"{dash}/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + 26.0,
            x + 34.0,
            yy + 4.0,
            esc(&legend_name(label))
        );
    }
    o.push_str("</g>\n");
}

/// One bar of a stacked bar chart: a label and (kind, share) segments.
pub(super) struct Bar {
    pub label: String,
    /// the method name (None for the pool's bar)
    pub method: Option<String>,
    pub shares: Vec<(String, f64)>,
}

/// Horizontal stacked bars (one per method, plus the pool), x = share in [0, 1].
pub(super) fn stacked_bars(title: &str, x_label: &str, bars: &[Bar], kinds: &[(String, &'static str)]) -> String {
    let label_w = bars.iter().map(|b| legend_name(&b.label).chars().count()).max().unwrap_or(0) as f64 * 7.2;
    let ml = (label_w + 24.0).clamp(70.0, 220.0);
    let (bar_h, gap) = (26.0, 12.0);
    let ph = (bars.len().max(1) as f64) * (bar_h + gap) + gap;
    let legend_h = kinds.len() as f64 * 22.0 + 20.0;
    let h = (MT + ph.max(legend_h) + MB).max(200.0);
    let pw = W - ml - MR;
    let total = bars.iter().map(|b| b.shares.iter().map(|(_, v)| v.max(0.0)).filter(|v| v.is_finite()).sum::<f64>()).fold(1.0f64, f64::max);
    let (xt, _) = nice_ticks(0.0, total, 5);
    let x1 = *xt.last().unwrap();
    let sx = |x: f64| ml + x / x1 * pw;

    let mut o = String::new();
    header(&mut o, W, h, title);
    o.push_str("<g class=\"axes\" stroke=\"#e3e3e3\">\n");
    for t in &xt {
        let _ = writeln!(o, "<line x1=\"{0:.1}\" y1=\"{MT}\" x2=\"{0:.1}\" y2=\"{1:.1}\"/>", sx(*t), MT + ph);
    }
    o.push_str("</g>\n<g class=\"ticks\" fill=\"#333333\">\n");
    for t in &xt {
        let pct = format!("{}%", (t * 100.0).round());
        let _ = writeln!(o, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>", sx(*t), MT + ph + 18.0, pct);
    }
    let _ = writeln!(
        o,
        "</g>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\">{}</text>",
        ml + pw / 2.0,
        MT + ph + 44.0,
        esc(x_label)
    );
    if bars.is_empty() {
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"14\" fill=\"#888888\">no data</text>",
            ml + pw / 2.0,
            MT + ph / 2.0 + 5.0
        );
    }
    for (i, b) in bars.iter().enumerate() {
        let y = MT + gap + i as f64 * (bar_h + gap);
        let attr = match &b.method {
            Some(m) => format!("data-method=\"{}\"", esc(m)),
            None => "data-pool=\"1\"".to_string(),
        };
        let style = if b.method.is_none() { " font-style=\"italic\"" } else { "" };
        let _ = writeln!(
            o,
            "<g class=\"bar\" {attr}>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\"{style}>{}</text>",
            ml - 8.0,
            y + bar_h / 2.0 + 4.0,
            esc(&legend_name(&b.label))
        );
        let mut x = 0.0;
        for (kind, share) in &b.shares {
            if !share.is_finite() || *share <= 0.0 {
                continue;
            }
            let colour = kinds.iter().find(|(k, _)| k == kind).map(|(_, c)| *c).unwrap_or("#999999");
            let (a, w) = (sx(x), sx(x + share) - sx(x));
            let _ = writeln!(
                o,
                "<rect x=\"{a:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar_h}\" fill=\"{colour}\" stroke=\"#ffffff\" stroke-width=\"0.5\"><title>{}: {}: {:.1}%</title></rect>",
                esc(&b.label),
                esc(kind),
                share * 100.0
            );
            if w >= 34.0 {
                let _ = writeln!(
                    o,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"{}\">{:.0}%</text>",
                    a + w / 2.0,
                    y + bar_h / 2.0 + 4.0,
                    text_on(colour),
                    share * 100.0
                );
            }
            x += share;
        }
        o.push_str("</g>\n");
    }
    let _ = writeln!(o, "<line x1=\"{ml}\" y1=\"{MT}\" x2=\"{ml}\" y2=\"{:.1}\" stroke=\"#888888\"/>", MT + ph);
    o.push_str("<g class=\"legend\">\n");
    for (i, (k, c)) in kinds.iter().enumerate() {
        let (x, y) = (ml + pw + 18.0, MT + 10.0 + i as f64 * 22.0);
        let _ = writeln!(
            o,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"16\" height=\"12\" fill=\"{c}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            y - 6.0,
            x + 24.0,
            y + 4.0,
            esc(&legend_name(k))
        );
    }
    o.push_str("</g>\n</svg>\n");
    o
}

/// Black or white text, whichever reads better on a `#rrggbb` fill.
fn text_on(fill: &str) -> &'static str {
    let h = fill.trim_start_matches('#');
    let c = |i: usize| h.get(i..i + 2).and_then(|s| u8::from_str_radix(s, 16).ok()).unwrap_or(0) as f64;
    if 0.299 * c(0) + 0.587 * c(2) + 0.114 * c(4) > 150.0 {
        "#000000"
    } else {
        "#ffffff"
    }
}
