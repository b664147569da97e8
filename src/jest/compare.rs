//! `jest-wgpu compare`: the headline experiment in one command — train the reference on the
//! curated split, embed the pool with it once, train a learner per method from the same init
//! and seed, evaluate every k steps, and write the report directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::cache::reference_embeddings;
use super::learner::{train_learner, LearnerRun};
use super::method::{Method, SelectConfig};
use crate::backend::Backend;
use crate::batch::Encoded;
use crate::config::Preset;
use crate::data::{load_builtin, validation_split, SplitName, Tokenizer, VALIDATION_SIZE};
use crate::report::{write_report, CompareResults, MethodResult, SummaryRow};
use crate::train::{load_model, new_model, save_model, train, Progress, RunControl, RunSpec};

/// What `compare` runs.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    pub preset: String,
    pub steps: usize,
    pub reference_steps: usize,
    pub seeds: Vec<u64>,
    pub filter_ratios: Vec<f64>,
    pub methods: Vec<Method>,
    pub chunks: usize,
    pub score_gain: f32,
    /// Flexi-JEST's scoring side in px (None: half the image) and low-resolution training share
    pub flexi_size: Option<usize>,
    pub flexi_low_share: f64,
    pub eval_every: usize,
    /// where the learners (and the reference) are evaluated
    pub eval_split: EvalSplit,
    pub batch: Option<usize>,
    pub lr: Option<f32>,
    pub out: PathBuf,
    /// ignore the finished runs stored in `out/runs/` (they are overwritten)
    pub fresh: bool,
    pub progress: bool,
}

/// The held-out set `compare` evaluates on. `Validation` holds out clean pool pairs of
/// concepts the learner never sees (see `data::validation_split`), for choosing settings without
/// looking at the test split; the reference is the same in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EvalSplit {
    /// concepts and one image style never in the curated split or the pool
    #[default]
    Test,
    /// clean pool pairs of concepts held out from the learners' pool
    Validation,
}

impl EvalSplit {
    pub fn as_str(self) -> &'static str {
        match self {
            EvalSplit::Test => "test",
            EvalSplit::Validation => "validation",
        }
    }
}

impl CompareOptions {
    /// The selection settings at filter ratio f.
    pub fn select(&self, f: f64) -> SelectConfig {
        SelectConfig::with_flexi(f, self.chunks, self.score_gain, self.flexi_size, self.flexi_low_share)
    }
}

fn preset(o: &CompareOptions, vocab: usize) -> Result<Preset> {
    let mut p = Preset::named(&o.preset, vocab)?;
    if let Some(b) = o.batch {
        p.train.batch = b;
    }
    if let Some(lr) = o.lr {
        p.train.lr = lr;
    }
    Ok(p)
}

/// Train the reference into `path`, or reuse it when it was trained with the same spec.
fn reference<B: Backend>(be: &B, spec: &RunSpec, path: &Path, curated: &Encoded, test: &Encoded, tok: &Tokenizer, progress: bool) -> Result<crate::eval::EvalResult> {
    if path.exists() {
        // say why an existing reference is replaced: it is this report's own, but it may be the
        // only copy of hours of training
        match load_model(be, path) {
            Ok((mut m, s)) if &s == spec => {
                eprintln!("reusing the reference model {}", path.display());
                return crate::eval::evaluate(be, &mut m, test, tok);
            }
            Ok((_, s)) => eprintln!(
                "replacing {}: it was trained with other settings ({} preset, {} steps, seed {}) than this compare asks for ({}, {}, {})",
                path.display(), s.preset.name, s.steps, s.seed, spec.preset.name, spec.steps, spec.seed
            ),
            Err(e) => eprintln!("replacing {}: it cannot be read as a model ({e:#})", path.display()),
        }
    }
    eprintln!("training the reference: {} steps on the curated split ({} items)", spec.steps, curated.len());
    let mut model = new_model(be, spec)?;
    let ctl = RunControl { progress, ..Default::default() };
    let rep = train(be, &mut model, spec, &ctl, curated, Some(test), tok, Progress::default())?;
    save_model(be, &model, spec, path)?;
    Ok(rep.eval.expect("evaluated"))
}

fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len().saturating_sub(1).max(1)) as f64;
    (m, v.sqrt())
}

/// What a finished learner run was computed from. `OUT/runs/*.json` keeps each run with its
/// key, so `compare` run again into the same folder (after a kill, or with more seeds or
/// methods) reuses the runs whose key is unchanged instead of training them again.
fn run_key(p: &Preset, o: &CompareOptions, sel: &SelectConfig, method: Method, seed: u64, reference_sha256: &str, adapter: &str) -> serde_json::Value {
    let mut key = serde_json::json!({
        "format": 1, "version": env!("CARGO_PKG_VERSION"), "preset": p, "steps": o.steps, "seed": seed, "method": method.name(), "select": sel.used_by(method),
        "eval_every": o.eval_every, "reference_sha256": reference_sha256, "adapter": adapter,
    });
    // only when not the test split, so the runs stored before the option existed stay valid
    if o.eval_split != EvalSplit::Test {
        key["eval_split"] = o.eval_split.as_str().into();
    }
    key
}

fn run_path(out: &Path, method: Method, f: f64, seed: u64) -> PathBuf {
    out.join("runs").join(format!("{}-f{f}-s{seed}.json", method.name()))
}

/// The stored run at `path` if its key is `key`; anything else (absent, another key,
/// unreadable) means train it again.
fn stored_run(path: &Path, key: &serde_json::Value) -> Option<MethodResult> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    if v.get("key")? != key {
        return None;
    }
    serde_json::from_value(v.get("result")?.clone()).ok()
}

fn store_run(path: &Path, key: &serde_json::Value, r: &MethodResult) -> Result<()> {
    std::fs::create_dir_all(path.parent().expect("runs/ folder"))?;
    crate::util::write_atomic(path, &serde_json::to_vec(&serde_json::json!({ "key": key, "result": r }))?)
}

/// First curve point at or above `target` on `key` (steps or FLOPs).
fn first_reach(run: &MethodResult, target: f64, key: fn(&crate::report::CurveRow) -> f64) -> Option<f64> {
    run.curve.iter().find(|c| c.r1_smoothed >= target - 1e-12).map(key)
}

/// Per (method, filter ratio): final R@1 over seeds, and steps/FLOPs-to-target against uniform
/// (target = uniform's own final smoothed R@1, per seed), read two ways: strict (against
/// uniform's own first point at the target) and against uniform's whole run (the paper's).
pub fn summarise(runs: &[MethodResult]) -> Vec<SummaryRow> {
    let mut keys: Vec<(String, f64)> = Vec::new();
    for r in runs {
        if !keys.iter().any(|(m, f)| m == &r.method && *f == r.filter_ratio) {
            keys.push((r.method.clone(), r.filter_ratio));
        }
    }
    let uniform = |seed: u64, f: f64| runs.iter().find(|u| u.method == "uniform" && u.seed == seed && u.filter_ratio == f);
    keys.into_iter()
        .map(|(method, f)| {
            let mine: Vec<&MethodResult> = runs.iter().filter(|r| r.method == method && r.filter_ratio == f).collect();
            let finals: Vec<f64> = mine.iter().map(|r| r.final_.r1_smoothed).collect();
            let (mean, std) = mean_std(&finals);
            let base: Vec<f64> = mine.iter().filter_map(|r| uniform(r.seed, f)).map(|u| u.final_.r1_smoothed).collect();
            let (base_mean, _) = mean_std(&base);
            let (mut step_ratios, mut flop_ratios, mut step_whole, mut flop_whole) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for r in &mine {
                let Some(u) = uniform(r.seed, f) else { continue };
                let target = u.final_.r1_smoothed;
                // uniform's whole run: its final evaluation (the last step always evaluates)
                let end = &u.final_;
                let (Some(us), Some(uf)) = (first_reach(u, target, |c| c.step as f64), first_reach(u, target, |c| c.flops)) else { continue };
                if let Some(ms) = first_reach(r, target, |c| c.step as f64) {
                    step_ratios.push(us / ms);
                    step_whole.push(end.step as f64 / ms);
                }
                if let Some(mf) = first_reach(r, target, |c| c.flops) {
                    flop_ratios.push(uf / mf);
                    flop_whole.push(end.flops / mf);
                }
            }
            let all_reached = |v: &Vec<f64>| (!v.is_empty() && v.len() == mine.len()).then(|| mean_std(v).0);
            SummaryRow {
                method,
                filter_ratio: f,
                seeds: mine.len(),
                final_r1_mean: mean,
                final_r1_std: std,
                r1_vs_uniform: if base_mean > 0.0 { mean / base_mean } else { f64::NAN },
                steps_speedup: all_reached(&step_ratios),
                flops_speedup: all_reached(&flop_ratios),
                steps_speedup_whole_run: all_reached(&step_whole),
                flops_speedup_whole_run: all_reached(&flop_whole),
                clean_share_mean: mean_std(&mine.iter().map(|r| r.selected_noise_share.get("clean").copied().unwrap_or(0.0)).collect::<Vec<_>>()).0,
            }
        })
        .collect()
}

/// Run the whole experiment on `be` and write the report into `o.out`.
pub fn run_compare<B: Backend>(be: &B, o: &CompareOptions) -> Result<CompareResults> {
    let t0 = Instant::now();
    if o.methods.is_empty() || o.seeds.is_empty() || o.filter_ratios.is_empty() {
        bail!("compare needs at least one method, seed and filter ratio");
    }
    let tok = Tokenizer::builtin()?;
    let p = preset(o, tok.vocab_size())?;
    p.train.validate(o.steps)?;
    if o.reference_steps == 0 {
        bail!("--reference-steps must be at least 1");
    }
    // every learner's sizes, before the reference trains
    for &f in &o.filter_ratios {
        for &m in &o.methods {
            super::step::Stepper::check_sizes(be, &p, m, &o.select(f))?;
        }
    }
    crate::util::check_output_dir(&o.out).context("--out")?;
    for f in ["reference.safetensors", "results.json", "index.html"] {
        crate::util::output_file(&o.out.join(f)).context("--out")?;
    }
    let (curated, pool) = (load_builtin(SplitName::Curated)?, load_builtin(SplitName::Pool)?);
    let (pool, test) = match o.eval_split {
        EvalSplit::Test => (pool, load_builtin(SplitName::Test)?),
        EvalSplit::Validation => {
            let (train, val) = validation_split(&pool, VALIDATION_SIZE)?;
            eprintln!("evaluating on the validation split: {} clean pool pairs of held-out concepts; the learners train on the other {} pool items", val.len(), train.len());
            (train, val)
        }
    };
    let l = p.model.text_len;
    let (curated_e, pool_e, test_e) = (Encoded::new(&curated, &tok, l), Encoded::new(&pool, &tok, l), Encoded::new(&test, &tok, l));
    std::fs::create_dir_all(&o.out)?;

    let ref_spec = RunSpec { preset: p.clone(), steps: o.reference_steps, seed: o.seeds[0], method: "reference".into(), data: "curated".into() };
    let ref_path = o.out.join("reference.safetensors");
    let reference_eval = reference(be, &ref_spec, &ref_path, &curated_e, &test_e, &tok, o.progress)?;
    eprintln!("reference on the {} split: i2t R@1 {:.3}  t2i R@1 {:.3}  zero-shot {:.3}", o.eval_split.as_str(), reference_eval.i2t_r1, reference_eval.t2i_r1, reference_eval.zero_shot_acc);
    let (cache, ref_sha) = reference_embeddings(be, &ref_path, &p, &pool_e, &pool.name)?;
    let cache = std::rc::Rc::new(cache);

    let mut runs = Vec::new();
    for &f in &o.filter_ratios {
        let sel = o.select(f);
        for &seed in &o.seeds {
            for &method in &o.methods {
                let key = run_key(&p, o, &sel, method, seed, &ref_sha, &be.adapter_name());
                let path = run_path(&o.out, method, f, seed);
                let stored = if o.fresh { None } else { stored_run(&path, &key) };
                let (r, reused) = match stored {
                    Some(r) => (r, format!("  (reused: {})", path.display())),
                    None => {
                        let spec = RunSpec { preset: p.clone(), steps: o.steps, seed, method: method.name().into(), data: "pool".into() };
                        let mut model = new_model(be, &spec)?;
                        let run = LearnerRun {
                            spec: &spec, method, select: &sel, pool: &pool_e, test: &test_e, tok: &tok, reference: Some(cache.clone()),
                            eval_every: o.eval_every, progress: o.progress, log: false, checkpoints: None,
                        };
                        let r = train_learner(be, &mut model, &run, Default::default())?;
                        store_run(&path, &key, &r)?;
                        (r, String::new())
                    }
                };
                eprintln!(
                    "{:<26} f={f} seed={seed}: R@1 {:.4} (i2t {:.4}, t2i {:.4})  clean {:.0}%  {:.0} ms/step (scoring {:.1}, sampling {:.2}){reused}",
                    r.method,
                    r.final_.r1_smoothed,
                    r.final_.i2t_r1,
                    r.final_.t2i_r1,
                    100.0 * r.selected_noise_share.get("clean").copied().unwrap_or(0.0),
                    r.ms_per_step,
                    r.ms_scoring,
                    r.ms_sampling
                );
                runs.push(r);
            }
        }
    }
    let f0 = o.filter_ratios[0];
    let s0 = o.seeds[0];
    let methods: BTreeMap<String, MethodResult> = runs.iter().filter(|r| r.filter_ratio == f0 && r.seed == s0).map(|r| (r.method.clone(), r.clone())).collect();
    let counts = pool.noise_counts();
    let pool_noise_share = crate::data::NoiseKind::ALL.iter().map(|k| (k.as_str().to_string(), counts[k.index()] as f64 / pool.len() as f64)).collect();
    let results = CompareResults {
        preset: p.name.clone(),
        seed: s0,
        seeds: o.seeds.clone(),
        backend: be.kind().as_str().into(),
        adapter: be.adapter_name(),
        filter_ratio: f0,
        filter_ratios: o.filter_ratios.clone(),
        chunks: o.chunks,
        score_gain: o.score_gain as f64,
        flexi_size: o.flexi_size.unwrap_or(SelectConfig::default_flexi_size(p.model.image_size, p.model.patch)),
        flexi_low_share: o.flexi_low_share,
        steps: o.steps,
        batch: p.train.batch,
        eval_every: o.eval_every,
        eval_split: o.eval_split.as_str().into(),
        pool_noise_share,
        reference_steps: o.reference_steps,
        reference_eval,
        methods,
        summary: summarise(&runs),
        runs,
        wall_seconds: t0.elapsed().as_secs_f64(),
    };
    let files = write_report(&o.out, &results)?;
    eprintln!("report: {} ({} files) in {:.0} s", o.out.join("index.html").display(), files.len(), results.wall_seconds);
    Ok(results)
}
