//! Per-run curve CSVs: one row per evaluation point, with the selection statistics of that step.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::{file_safe, kinds_with_colours, same_ratio, CurveRow, MethodResult};

/// (file name, contents) for every run: `<method>[_f<ratio>][_s<seed>].csv`, the ratio part when
/// the runs span several filter ratios, the seed part when they span several seeds.
pub(super) fn curve_files(runs: &[&MethodResult]) -> Vec<(String, String)> {
    let mut ratios: Vec<f64> = Vec::new();
    for m in runs {
        if !ratios.iter().any(|&f| same_ratio(f, m.filter_ratio)) {
            ratios.push(m.filter_ratio);
        }
    }
    let seeds: BTreeSet<u64> = runs.iter().map(|m| m.seed).collect();
    let name = |m: &MethodResult, with_f: bool, with_s: bool| {
        let mut s = file_safe(&m.method);
        if with_f {
            let _ = write!(s, "_f{}", m.filter_ratio);
        }
        if with_s {
            let _ = write!(s, "_s{}", m.seed);
        }
        s
    };
    let mut names: Vec<String> = runs.iter().map(|m| name(m, ratios.len() > 1, seeds.len() > 1)).collect();
    if BTreeSet::from_iter(names.iter()).len() < names.len() {
        names = runs.iter().map(|m| name(m, true, true)).collect();
    }
    // still equal (the same run twice, or names equal after making them file-safe): number them
    let mut used = BTreeSet::new();
    for n in names.iter_mut() {
        let base = n.clone();
        let mut k = 2;
        while !used.insert(n.clone()) {
            *n = format!("{base}_{k}");
            k += 1;
        }
    }
    runs.iter().zip(names).map(|(m, n)| (format!("{n}.csv"), curve_csv(m))).collect()
}

/// The CSV of one run: the curve's columns, then `learnability` and `share_<kind>` for every
/// noise kind the run's selection reports (empty cells where no selection row has that step).
pub(super) fn curve_csv(m: &MethodResult) -> String {
    let kinds: Vec<String> = kinds_with_colours(m.selection.iter().map(|s| &s.noise_share)).into_iter().map(|(k, _)| k).collect();
    let mut out = String::from("step,examples,flops,zero_shot_acc,i2t_r1,t2i_r1,i2t_r5,t2i_r5,r1_smoothed,r1_stderr,loss,learnability");
    for k in &kinds {
        out.push(',');
        out.push_str(&field(&format!("share_{k}")));
    }
    out.push('\n');
    for c in &m.curve {
        let CurveRow { step, examples, flops, zero_shot_acc, i2t_r1, t2i_r1, i2t_r5, t2i_r5, r1_smoothed, r1_stderr, loss } = c;
        let _ = write!(out, "{step},{examples}");
        for x in [flops, zero_shot_acc, i2t_r1, t2i_r1, i2t_r5, t2i_r5, r1_smoothed, r1_stderr, loss] {
            let _ = write!(out, ",{}", num(*x));
        }
        match m.selection.iter().find(|s| s.step == *step) {
            Some(s) => {
                let _ = write!(out, ",{}", num(s.learnability));
                for k in &kinds {
                    let _ = write!(out, ",{}", s.noise_share.get(k).map(|x| num(*x)).unwrap_or_default());
                }
            }
            None => out.push_str(&",".repeat(1 + kinds.len())),
        }
        out.push('\n');
    }
    out
}

/// A number as CSV text (`NaN`, `inf`, `-inf` for the non-finite ones, as pandas reads them).
fn num(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x}")
    }
}

/// A header field, quoted when it holds a comma, quote or line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
