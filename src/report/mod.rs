//! The `compare` report: results.json, per-run CSV curves, hand-written SVG plots and index.html.

pub mod results;
pub use results::*;

mod csv;
mod html;
mod plots;
mod svg;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::util::write_atomic;

/// Write the whole report into `dir` (created if needed), atomically per file (crate::util::write_atomic):
/// results.json (pretty), curves/<method>[_f<ratio>][_s<seed>].csv (one row per CurveRow + selection columns),
/// plots/*.svg, index.html. Returns the paths written.
pub fn write_report(dir: &Path, r: &CompareResults) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create report folder {}", dir.display()))?;
    let mut written = Vec::new();
    let mut put = |rel: &str, data: &[u8]| -> Result<()> {
        let path = dir.join(rel);
        write_atomic(&path, data)?;
        written.push(path);
        Ok(())
    };

    let json = serde_json::to_string_pretty(r).context("cannot serialise the results")?;
    put("results.json", json.as_bytes())?;

    let curves = csv::curve_files(&all_runs(r));
    for (name, text) in &curves {
        put(&format!("curves/{name}"), text.as_bytes())?;
    }

    let plots = plots::plots(r);
    for p in &plots {
        put(&format!("plots/{}", p.file), p.svg.as_bytes())?;
    }

    let names: Vec<String> = curves.into_iter().map(|(n, _)| n).collect();
    put("index.html", html::index(r, &plots, &names).as_bytes())?;
    remove_stale(dir, &written);
    Ok(written)
}

/// Whether `rest` is what a report's file names put after a method or plot name: any of
/// `_f<ratio>`, `_s<seed>`, `_<n>` (csv::curve_files, plots::plots).
fn report_suffix(rest: &str) -> bool {
    rest.is_empty()
        || rest.strip_prefix('_').is_some_and(|r| {
            r.split('_').all(|t| {
                let num = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit() || c == '.');
                num(t) || t.strip_prefix('f').is_some_and(num) || t.strip_prefix('s').is_some_and(num)
            })
        })
}

/// Remove the curves and plots an earlier report into the same folder wrote for runs this one
/// does not have (other seeds or filter ratios), so the folder holds this report and nothing
/// older. Only names a report writes are touched: `curves/<method>[_f…][_s…].csv` and
/// `plots/<plot>[_f…].svg`.
fn remove_stale(dir: &Path, written: &[PathBuf]) {
    const PLOT_NAMES: &[&str] = &["r1_vs_steps", "r1_vs_flops", "noise_vs_step", "learnability_vs_step", "noise_kinds"];
    let ours = |sub: &str, name: &str| {
        let (stem, names) = match sub {
            "curves" => (name.strip_suffix(".csv"), METHOD_ORDER),
            _ => (name.strip_suffix(".svg"), PLOT_NAMES),
        };
        stem.is_some_and(|stem| names.iter().any(|m| stem.strip_prefix(m).is_some_and(report_suffix)))
    };
    for sub in ["curves", "plots"] {
        for entry in std::fs::read_dir(dir.join(sub)).into_iter().flatten().flatten() {
            let (path, name) = (entry.path(), entry.file_name().to_string_lossy().to_string());
            if ours(sub, &name) && !written.contains(&path) && std::fs::remove_file(&path).is_ok() {
                eprintln!("removed {}, from an earlier report into this folder", path.display());
            }
        }
    }
}

/// Methods in the order the report lists them: the known ones first (baseline, then the
/// selection methods), then any other name alphabetically.
pub(crate) const METHOD_ORDER: &[&str] =
    &["uniform", "jest", "learnability", "flexi-jest", "independent-learnability", "easy-ref", "hard-learner"];

const METHOD_COLOURS: &[&str] = &["#555555", "#1f77b4", "#2ca02c", "#17becf", "#9467bd", "#ff7f0e", "#d62728"];
const EXTRA_COLOURS: &[&str] = &["#8c564b", "#e377c2", "#bcbd22", "#7f7f7f", "#aec7e8", "#98df8a", "#ffbb78", "#c5b0d5"];

/// Noise kinds in display order (others from the data follow alphabetically).
pub(crate) const KIND_ORDER: &[&str] = &["clean", "mismatched", "blank", "generic", "boilerplate", "near_duplicate", "slug"];
const KIND_COLOURS: &[&str] = &["#2ca02c", "#d62728", "#c7c7c7", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];

/// Every run in the results: `runs`, or `methods` when `runs` is empty.
pub(crate) fn all_runs(r: &CompareResults) -> Vec<&MethodResult> {
    if r.runs.is_empty() {
        r.methods.values().collect()
    } else {
        r.runs.iter().collect()
    }
}

/// The filter ratio the main plots show.
pub(crate) fn first_ratio(r: &CompareResults) -> f64 {
    r.filter_ratios.first().copied().unwrap_or(r.filter_ratio)
}

/// Filter ratios present in the runs, first ratio first.
pub(crate) fn ratios(r: &CompareResults) -> Vec<f64> {
    let mut out = vec![first_ratio(r)];
    for x in r.filter_ratios.iter().copied().chain(all_runs(r).iter().map(|m| m.filter_ratio)) {
        if !out.iter().any(|&y| same_ratio(x, y)) {
            out.push(x);
        }
    }
    out
}

pub(crate) fn same_ratio(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 || (a.is_nan() && b.is_nan())
}

/// Method names in display order.
pub(crate) fn method_names(r: &CompareResults) -> Vec<String> {
    let mut names: BTreeSet<&str> = all_runs(r).iter().map(|m| m.method.as_str()).collect();
    names.extend(r.methods.keys().map(|s| s.as_str()));
    names.extend(r.summary.iter().map(|s| s.method.as_str()));
    order_names(names.into_iter(), METHOD_ORDER)
}

fn order_names<'a>(names: impl Iterator<Item = &'a str>, order: &[&str]) -> Vec<String> {
    let set: BTreeSet<&str> = names.collect();
    let mut out: Vec<String> = order.iter().filter(|k| set.contains(*k)).map(|s| s.to_string()).collect();
    out.extend(set.iter().filter(|k| !order.contains(k)).map(|s| s.to_string()));
    out
}

/// One colour per method, the same in every plot.
pub(crate) fn method_colours(names: &[String]) -> BTreeMap<String, &'static str> {
    let mut extra = 0;
    names
        .iter()
        .map(|n| {
            let c = match METHOD_ORDER.iter().position(|k| k == n) {
                Some(i) => METHOD_COLOURS[i],
                None => {
                    extra += 1;
                    EXTRA_COLOURS[(extra - 1) % EXTRA_COLOURS.len()]
                }
            };
            (n.clone(), c)
        })
        .collect()
}

/// Noise kinds found in the data, in display order, each with its colour.
pub(crate) fn kinds_with_colours<'a>(maps: impl Iterator<Item = &'a BTreeMap<String, f64>>) -> Vec<(String, &'static str)> {
    let mut set = BTreeSet::new();
    for m in maps {
        set.extend(m.keys().map(|k| k.as_str()));
    }
    let mut extra = 0;
    order_names(set.into_iter(), KIND_ORDER)
        .into_iter()
        .map(|k| {
            let c = match KIND_ORDER.iter().position(|x| *x == k) {
                Some(i) => KIND_COLOURS[i],
                None => {
                    extra += 1;
                    EXTRA_COLOURS[(extra - 1) % EXTRA_COLOURS.len()]
                }
            };
            (k, c)
        })
        .collect()
}

/// The runs of `method` at filter ratio `f` (one per seed).
pub(crate) fn runs_of<'a>(r: &'a CompareResults, method: &str, f: f64) -> Vec<&'a MethodResult> {
    all_runs(r).into_iter().filter(|m| m.method == method && same_ratio(m.filter_ratio, f)).collect()
}

/// Mean of the finite values (None when there are none).
pub(crate) fn mean(xs: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut s, mut n) = (0.0, 0usize);
    for x in xs.into_iter().filter(|x| x.is_finite()) {
        s += x;
        n += 1;
    }
    (n > 0).then(|| s / n as f64)
}

/// Mean share per kind over several runs' maps (a kind missing from a non-empty map counts 0).
pub(crate) fn mean_shares<'a>(maps: impl Iterator<Item = &'a BTreeMap<String, f64>>) -> BTreeMap<String, f64> {
    let maps: Vec<_> = maps.filter(|m| !m.is_empty()).collect();
    let kinds: BTreeSet<&String> = maps.iter().flat_map(|m| m.keys()).collect();
    kinds.into_iter().filter_map(|k| mean(maps.iter().map(|m| m.get(k).copied().unwrap_or(0.0))).map(|v| (k.clone(), v))).collect()
}

/// Share of a noise-share map that is not clean (None when the map is empty or not finite).
pub(crate) fn noisy_share(m: &BTreeMap<String, f64>) -> Option<f64> {
    let v = match m.get("clean") {
        Some(c) => 1.0 - c,
        None if m.is_empty() => return None,
        None => m.values().sum(),
    };
    v.is_finite().then_some(v)
}

/// Escape text for HTML and XML (element content and attribute values).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // characters XML 1.0 forbids even escaped
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A number with an SI suffix (1.2k, 3.4G, …), `digits` significant-ish decimals.
pub(crate) fn si(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    let (div, suf) = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")].into_iter().find(|(d, _)| a >= *d).unwrap_or((1.0, ""));
    let s = format!("{:.*}", digits, x / div);
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    format!("{s}{suf}")
}

/// A file-name-safe version of a method name.
pub(crate) fn file_safe(s: &str) -> String {
    let t: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect();
    if t.is_empty() || t.starts_with('.') {
        format!("_{t}")
    } else {
        t
    }
}
