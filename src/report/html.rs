//! index.html: a self-contained page with the run parameters, an explanation, the summary and
//! timing tables, and the plots.

use std::fmt::Write;

use super::plots::Plot;
use super::{esc, first_ratio, mean, method_names, ratios, runs_of, si, CompareResults, SummaryRow};

const STYLE: &str = "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1000px;margin:2em auto;\
padding:0 1em;color:#222;line-height:1.45;background:#fff}h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;\
border-bottom:1px solid #ddd;padding-bottom:.2em}table{border-collapse:collapse;margin:.6em 0}th,td{padding:.3em .7em;\
border-bottom:1px solid #e5e5e5;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}\
table.params td{text-align:left}figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #eee}\
figcaption{color:#555;font-size:.92em}code{background:#f3f3f3;padding:0 .25em}.sub{color:#666}dt{font-weight:bold}\
dd{margin:0 0 .5em 1.2em}";

/// What each known method does, in plain words.
fn describe(method: &str) -> Option<&'static str> {
    Some(match method {
        "uniform" => "the baseline: trains on a random sub-batch, no scoring at all.",
        "jest" | "learnability" => {
            "joint example selection (JEST). Scores the whole super-batch with learnability = learner loss − reference loss \
             and samples the sub-batch chunk by chunk, each chunk conditioned on those already chosen, so the batch is picked \
             as a whole. It prefers data that is unlearned (the learner still gets it wrong) but learnable (the reference, \
             trained on curated data, gets it right) — which skips both what is already learned and what is noise."
        }
        "flexi-jest" => {
            "JEST with cheaper scoring: the learner scores the super-batch at a lower image resolution (flexi_size px in \
             results.json), and trains a share of each chosen batch at that resolution (flexi_low_share; the paper's recipe \
             is half) and the rest at full resolution."
        }
        "independent-learnability" => {
            "the same learnability score, but the top examples are taken one by one from each example's own score \
             (RHO-LOSS-style). Comparing it with JEST shows what choosing the batch jointly adds."
        }
        "easy-ref" => {
            "keeps what the reference model finds easy (low reference loss), like CLIP-score filtering. It needs no learner \
             scoring, so it is the cheap rival JEST has to beat, in steps and in FLOPs."
        }
        "hard-learner" => {
            "keeps what the learner finds hardest (high learner loss). Noisy pairs are always hard, so it chases noise: \
             expect it to select noisier data than the pool and to learn worst."
        }
        _ => return None,
    })
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", x * 100.0)
    } else {
        "–".into()
    }
}

fn num(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "–".into()
    }
}

fn speedup(x: Option<f64>) -> String {
    match x {
        None => "never".into(),
        Some(v) if v.is_finite() => format!("{v:.2}×"),
        Some(_) => "–".into(),
    }
}

fn ratio_list(r: &CompareResults) -> String {
    ratios(r).iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", ")
}

fn params(o: &mut String, r: &CompareResults) {
    let f = first_ratio(r);
    let seeds = if r.seeds.is_empty() { r.seed.to_string() } else { r.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ") };
    let super_batch = if (0.0..1.0).contains(&f) && r.batch > 0 { format!("{:.0}", r.batch as f64 / (1.0 - f)) } else { "–".into() };
    let e = &r.reference_eval;
    let rows: Vec<(&str, String)> = vec![
        ("preset", r.preset.clone()),
        ("backend", r.backend.clone()),
        ("adapter", r.adapter.clone()),
        ("seeds", seeds),
        ("filter ratio f", ratio_list(r)),
        ("sub-batch b / super-batch B (at the first f)", format!("{} / {}", r.batch, super_batch)),
        ("chunks", r.chunks.to_string()),
        ("score gain", num(r.score_gain, 1)),
        ("learner steps", r.steps.to_string()),
        ("evaluation every", format!("{} steps", r.eval_every)),
        ("held-out set", held_out_set(&r.eval_split).to_string()),
        (
            "reference",
            format!("{} steps on the curated split; R@1 on the held-out set i2t {} / t2i {}", r.reference_steps, pct(e.i2t_r1), pct(e.t2i_r1)),
        ),
        ("chance R@1", pct(e.chance_r1)),
        ("wall time", format!("{} s", num(r.wall_seconds, 0))),
    ];
    o.push_str("<table class=\"params\">\n");
    for (k, v) in rows {
        let _ = writeln!(o, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    o.push_str("</table>\n");
}

fn summary_table(o: &mut String, rows: &[SummaryRow]) {
    if rows.is_empty() {
        o.push_str("<p class=\"sub\">No summary rows.</p>\n");
        return;
    }
    o.push_str(
        "<table class=\"summary\">\n<tr><th>method</th><th>f</th><th>seeds</th><th>final R@1 (mean ± std)</th><th>× uniform</th>\
         <th>steps speed-up</th><th>FLOPs speed-up</th><th>steps / FLOPs vs uniform's whole run</th><th>clean share selected</th></tr>\n",
    );
    for s in rows {
        let r1 = if s.final_r1_mean.is_finite() {
            format!("{:.2}% ± {}", s.final_r1_mean * 100.0, num(s.final_r1_std * 100.0, 2))
        } else {
            "–".into()
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td></tr>",
            esc(&s.method),
            s.filter_ratio,
            s.seeds,
            r1,
            if s.r1_vs_uniform.is_finite() { format!("{:.2}×", s.r1_vs_uniform) } else { "–".into() },
            speedup(s.steps_speedup),
            speedup(s.flops_speedup),
            // uniform against its own whole run is no speed-up, only how early it touched its final R@1
            if s.method == "uniform" { "–".into() } else { speedup(s.steps_speedup_whole_run) },
            if s.method == "uniform" { "–".into() } else { speedup(s.flops_speedup_whole_run) },
            pct(s.clean_share_mean)
        );
    }
    o.push_str("</table>\n");
}

fn timing_table(o: &mut String, r: &CompareResults) {
    let mut rows = String::new();
    for f in ratios(r) {
        for name in method_names(r) {
            let runs = runs_of(r, &name, f);
            if runs.is_empty() {
                continue;
            }
            let m = |g: fn(&super::MethodResult) -> f64| mean(runs.iter().map(|x| g(x))).unwrap_or(f64::NAN);
            let step = m(|x| x.ms_per_step);
            let share = |v: f64| {
                if step > 0.0 && v.is_finite() {
                    format!(" ({:.1}%)", 100.0 * v / step)
                } else {
                    String::new()
                }
            };
            let (sc, sa) = (m(|x| x.ms_scoring), m(|x| x.ms_sampling));
            let _ = writeln!(
                rows,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&name),
                f,
                num(step, 1),
                num(sc, 2),
                share(sc),
                num(sa, 3),
                share(sa),
                si(m(|x| x.flops_per_step.train), 2),
                si(m(|x| x.flops_per_step.learner_scoring), 2),
                si(m(|x| x.flops_per_step.reference_scoring), 2),
                si(m(|x| x.flops_per_step.total), 2)
            );
        }
    }
    if rows.is_empty() {
        o.push_str("<p class=\"sub\">No runs.</p>\n");
        return;
    }
    o.push_str(
        "<table class=\"timing\">\n<tr><th>method</th><th>f</th><th>ms / step</th><th>scoring ms</th><th>sampling ms</th>\
         <th>FLOPs train</th><th>FLOPs learner scoring</th><th>FLOPs reference scoring</th><th>FLOPs / step</th></tr>\n",
    );
    o.push_str(&rows);
    o.push_str(
        "</table>\n<p class=\"sub\">Mean over seeds. Scoring and sampling are part of the step time (share in brackets), \
         timed from one sync to the next at logged steps; sampling is the joint sampler and the gather of the chosen rows. \
         On a GPU each column also holds a round trip to the device (uniform, which samples nothing, shows it as its \
         sampling time); <code>jest-wgpu bench --profile</code> gives each kernel's own GPU time.</p>\n",
    );
}

/// The whole page; `curves` are the CSV file names under `curves/`.
pub(super) fn index(r: &CompareResults, plots: &[Plot], curves: &[String]) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>JEST comparison — {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Joint example selection (JEST): method comparison</h1>\n\
         <p class=\"sub\">Preset <code>{}</code> on <code>{}</code> ({}) — written by <code>jest-wgpu compare</code>. \
         Data: <a href=\"results.json\">results.json</a>.</p>\n<h2>Run</h2>\n",
        esc(&r.preset),
        esc(&r.preset),
        esc(&r.backend),
        esc(&r.adapter)
    );
    params(&mut o, r);

    o.push_str(
        "<h2>What is compared</h2>\n<p>Every learner starts from the same initialisation and seed. Each step draws a \
         super-batch of B examples from a noisy pool and trains on a sub-batch of b = (1 − f)·B of them; the methods \
         differ only in how they choose that sub-batch.</p>\n<dl>\n",
    );
    for name in method_names(r) {
        let text = describe(&name).unwrap_or("a selection method of this build (no description).");
        let _ = writeln!(o, "<dt>{}</dt><dd>{}</dd>", esc(&name), esc(text));
    }
    o.push_str(
        "</dl>\n<p><b>What to look for.</b> JEST picks batches that are unlearned but learnable: its R@1 curve should \
         climb faster than uniform's, reach uniform's final R@1 in fewer steps, and — counting the scoring it pays \
         for — in fewer FLOPs. Its selected examples should be much cleaner than the pool, while hard-learner's should \
         be noisier. Easy-ref is the cheap rival: it filters noise too, without learner scoring. Joint selection (JEST) \
         should beat independent selection.</p>\n",
    );

    o.push_str("<h2>Summary</h2>\n");
    summary_table(&mut o, &r.summary);
    o.push_str(
        "<p class=\"sub\">Final R@1 is the smoothed mean of image→text and text→image R@1 on the held-out set. \
         Speed-ups: uniform's first step (or FLOPs) at its own final R@1, divided by this method's first step (or FLOPs) \
         there (strict: uniform's noisy curve often touches its final R@1 well before its last step); “vs uniform's whole \
         run” divides uniform's last step (or total FLOPs) instead — the form of the JEST paper's figures (the final \
         quality of a 3B-example uniform run reached with 1B examples: 3×), and one that grows with uniform's run \
         length once its curve is flat; “never” means the method did not reach that R@1 in every seed.</p>\n",
    );

    o.push_str("<h2>Plots</h2>\n");
    for p in plots {
        let _ = writeln!(
            o,
            "<figure><img src=\"plots/{}\" alt=\"{}\"><figcaption><b>{}.</b> {}</figcaption></figure>",
            esc(&p.file),
            esc(&p.title),
            esc(&p.title),
            esc(&p.caption)
        );
    }

    o.push_str("<h2>Time and compute per step</h2>\n");
    timing_table(&mut o, r);

    o.push_str("<h2>Files</h2>\n<ul>\n<li><a href=\"results.json\">results.json</a> — everything above, machine-readable</li>\n");
    for c in curves {
        let _ = writeln!(o, "<li><a href=\"curves/{0}\">curves/{0}</a></li>", esc(c));
    }
    o.push_str("</ul>\n</body>\n</html>\n");
    o
}

/// What the report's evaluations used, in words.
fn held_out_set(split: &str) -> &'static str {
    match split {
        "validation" => "validation: clean pool pairs of concepts held out from the learners' pool (the test split unused)",
        _ => "test: concepts and one image style never in the curated split or the pool",
    }
}
