//! The report's plots, built from `CompareResults`: R@1 vs steps and FLOPs, noise and learnability
//! of the selection vs step, and the noise kinds selected per method.

use std::collections::{BTreeMap, BTreeSet};

use super::svg::{line_chart, stacked_bars, Bar, LineChart, Pt, Series};
use super::{
    first_ratio, kinds_with_colours, mean, mean_shares, method_colours, method_names, noisy_share, ratios, runs_of, CompareResults,
    MethodResult,
};

/// One rendered plot: its file name under `plots/`, a title and a caption for the page.
pub(super) struct Plot {
    pub file: String,
    pub title: String,
    pub caption: String,
    pub svg: String,
}

/// (step, x, y) rows of one run.
type Rows = fn(&MethodResult) -> Vec<(usize, f64, f64)>;

/// Mean over runs (seeds) per step: x is the mean x, y the mean y, the band its min–max.
fn aggregate(runs: &[&MethodResult], rows: Rows) -> Vec<Pt> {
    let mut by_step: BTreeMap<usize, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for m in runs {
        for (step, x, y) in rows(m) {
            if x.is_finite() && y.is_finite() {
                let e = by_step.entry(step).or_default();
                e.0.push(x);
                e.1.push(y);
            }
        }
    }
    by_step
        .into_values()
        .filter_map(|(xs, ys)| {
            let x = mean(xs)?;
            let y = mean(ys.iter().copied())?;
            let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            Some(Pt { x, y, lo, hi })
        })
        .collect()
}

fn r1_by_step(m: &MethodResult) -> Vec<(usize, f64, f64)> {
    m.curve.iter().map(|c| (c.step, c.step as f64, c.r1_smoothed)).collect()
}

fn r1_by_flops(m: &MethodResult) -> Vec<(usize, f64, f64)> {
    m.curve.iter().map(|c| (c.step, c.flops, c.r1_smoothed)).collect()
}

fn noise_by_step(m: &MethodResult) -> Vec<(usize, f64, f64)> {
    m.selection.iter().filter_map(|s| noisy_share(&s.noise_share).map(|v| (s.step, s.step as f64, v))).collect()
}

fn learnability_by_step(m: &MethodResult) -> Vec<(usize, f64, f64)> {
    m.selection.iter().map(|s| (s.step, s.step as f64, s.learnability)).collect()
}

/// One series per method that has runs at ratio `f` (with `keep_empty`, also when none of its
/// points is finite, so that the legend still names it).
fn series(r: &CompareResults, f: f64, rows: Rows, keep_empty: bool) -> (Vec<Series>, usize) {
    let names = method_names(r);
    let colours = method_colours(&names);
    let mut seeds = BTreeSet::new();
    let mut out = Vec::new();
    for name in &names {
        let runs = runs_of(r, name, f);
        if runs.is_empty() {
            continue;
        }
        seeds.extend(runs.iter().map(|m| m.seed));
        let pts = aggregate(&runs, rows);
        if pts.is_empty() && !keep_empty {
            continue;
        }
        out.push(Series { name: name.clone(), colour: colours[name], pts, band: runs.len() > 1 });
    }
    (out, seeds.len())
}

fn seeds_note(seeds: usize) -> String {
    match seeds {
        0 => "No runs at this filter ratio.".into(),
        1 => "One seed.".into(),
        n => format!("Mean over {n} seeds; the shaded band spans the lowest to the highest seed."),
    }
}

const R1_LABEL: &str = "held-out R@1 (i2t and t2i mean, smoothed)";

/// Every plot of the report (file names are unique).
pub(super) fn plots(r: &CompareResults) -> Vec<Plot> {
    let f0 = first_ratio(r);
    let mut out = Vec::new();
    for (i, f) in ratios(r).into_iter().enumerate() {
        let suffix = if i == 0 { String::new() } else { format!("_f{f}") };
        let (s, seeds) = series(r, f, r1_by_step, true);
        let title = format!("Held-out R@1 vs training steps (f = {f})");
        out.push(Plot {
            file: format!("r1_vs_steps{suffix}.svg"),
            svg: line_chart(&LineChart {
                title: title.clone(),
                x_label: "training step".into(),
                y_label: R1_LABEL.into(),
                y_range: None,
                y_zero: true,
                series: s,
                reference: None,
            }),
            title,
            caption: format!(
                "{} R@1 is the mean of image→text and text→image recall@1 on the held-out set, smoothed over the last \
                 evaluations. Higher and further left is better: fewer steps to the same quality.",
                seeds_note(seeds)
            ),
        });
        let (s, seeds) = series(r, f, r1_by_flops, true);
        let title = format!("Held-out R@1 vs compute (f = {f})");
        out.push(Plot {
            file: format!("r1_vs_flops{suffix}.svg"),
            svg: line_chart(&LineChart {
                title: title.clone(),
                x_label: "FLOPs spent (training + learner scoring + reference scoring)".into(),
                y_label: R1_LABEL.into(),
                y_range: None,
                y_zero: true,
                series: s,
                reference: None,
            }),
            title,
            caption: format!(
                "{} Every scoring FLOP is counted, so selection methods pay for the super-batch they score; \
                 a method is cheaper than uniform only if its curve still reaches uniform's level further left.",
                seeds_note(seeds)
            ),
        });
    }

    let pool_noisy = noisy_share(&r.pool_noise_share);
    let (s, seeds) = series(r, f0, noise_by_step, false);
    let title = format!("Noise in the selected examples (f = {f0})");
    out.push(Plot {
        file: "noise_vs_step.svg".into(),
        svg: line_chart(&LineChart {
            title: title.clone(),
            x_label: "training step".into(),
            y_label: "share of selected examples that are not clean".into(),
            y_range: Some((0.0, 1.0)),
            y_zero: true,
            series: s,
            reference: pool_noisy.map(|p| (p, format!("pool: {:.0}% not clean", p * 100.0))),
        }),
        title,
        caption: format!(
            "{} The dashed line is the pool's noisy share (what uniform sampling sees). \
             Good selection stays below it; hard-learner is expected above it.",
            seeds_note(seeds)
        ),
    });

    let (s, seeds) = series(r, f0, learnability_by_step, false);
    let title = format!("Learnability of the chosen batches (f = {f0})");
    out.push(Plot {
        file: "learnability_vs_step.svg".into(),
        svg: line_chart(&LineChart {
            title: title.clone(),
            x_label: "training step".into(),
            y_label: "mean joint learnability Σ A_ij / b² (gain removed)".into(),
            y_range: None,
            y_zero: true,
            series: s,
            reference: None,
        }),
        title,
        caption: format!(
            "{} Learnability = learner loss − reference loss over the chosen sub-batch: how much the learner \
             still has to learn that the reference shows is learnable. Expect it to fall as the learner catches up.",
            seeds_note(seeds)
        ),
    });

    let mut bars = Vec::new();
    let mut maps = Vec::new();
    for name in method_names(r) {
        let runs = runs_of(r, &name, f0);
        let shares = mean_shares(runs.iter().map(|m| &m.selected_noise_share));
        if !shares.is_empty() {
            maps.push((Some(name), shares));
        }
    }
    if !r.pool_noise_share.is_empty() {
        maps.push((None, r.pool_noise_share.clone()));
    }
    let kinds = kinds_with_colours(maps.iter().map(|(_, m)| m));
    for (method, m) in &maps {
        bars.push(Bar {
            label: method.clone().unwrap_or_else(|| "pool (all data)".into()),
            method: method.clone(),
            shares: kinds.iter().filter_map(|(k, _)| m.get(k).map(|v| (k.clone(), *v))).collect(),
        });
    }
    let title = format!("Noise kinds among the selected examples (f = {f0})");
    out.push(Plot {
        file: "noise_kinds.svg".into(),
        svg: stacked_bars(&title, "share of selected examples (mean over seeds)", &bars, &kinds),
        title,
        caption: "Each bar splits a method's selected examples by noise kind over the whole run; the last bar is \
                  the pool itself. Green is clean data."
            .into(),
    });
    out
}
