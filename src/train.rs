//! The training loop shared by the reference and the learner: batches, forward/backward/AdamW,
//! losses read back every `log_every` steps (NaN stops the run), held-out evaluation, atomic
//! checkpoints every k steps and exact `--resume`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::backend::{AdamHp, Backend};
use crate::batch::{step_indices, Encoded};
use crate::config::Preset;
use crate::data::Tokenizer;
use crate::eval::{evaluate, EvalResult};
use crate::model::params::{load_safetensors, save_safetensors};
use crate::model::DualEncoder;

pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// What a run is, stored in every checkpoint so `--resume DIR` needs nothing else.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunSpec {
    pub preset: Preset,
    pub steps: usize,
    pub seed: u64,
    /// "reference" (curated split) or a learner method ("uniform", …)
    pub method: String,
    /// where the training data came from, e.g. "builtin/curated"
    pub data: String,
}

/// How to run (not stored: may differ on resume).
#[derive(Clone, Debug, Default)]
pub struct RunControl {
    pub run_dir: Option<PathBuf>,
    pub checkpoint_every: usize,
    /// evaluate on the test split every this many steps (0 = only at the end)
    pub eval_every: usize,
    pub progress: bool,
    /// print one line per logged step
    pub log: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CurvePoint {
    pub step: usize,
    pub examples: usize,
    pub eval: EvalResult,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainReport {
    pub losses: Vec<f32>,
    pub ms_per_step: f64,
    pub curve: Vec<CurvePoint>,
    pub eval: Option<EvalResult>,
}

/// The model for a spec, freshly initialised from its seed.
pub fn new_model<B: Backend>(be: &B, spec: &RunSpec) -> Result<DualEncoder<B>> {
    spec.preset.model.validate()?;
    spec.preset.train.validate(spec.steps)?;
    let m = &spec.preset.model;
    m.check_fits(spec.preset.train.batch, be.max_buffer_bytes(), &be.adapter_name())?;
    m.check_memory(be.kind(), &[(spec.preset.train.batch, m.image_tokens())])?;
    Ok(DualEncoder::new(be, &spec.preset.model, spec.seed as u32, spec.preset.train.batch))
}

pub fn adam_hp(spec: &RunSpec, step: usize) -> AdamHp {
    let t = &spec.preset.train;
    AdamHp {
        base_lr: t.lr,
        min_lr: t.min_lr,
        beta1: t.beta1,
        beta2: t.beta2,
        eps: 1e-8,
        weight_decay: t.weight_decay,
        clip: t.clip,
        step: step as u32 + 1,
        warmup: ((t.warmup_frac * spec.steps as f32).round() as u32).max(1),
        total: spec.steps as u32,
        _pad: [0; 2],
    }
}

/// Save a resumable checkpoint (weights + Adam moments + losses and evaluations so far, and the
/// cadences of `ctl` so `--resume` keeps them), atomically — refused when a weight is no longer
/// finite, so the last checkpoint is good.
#[allow(clippy::too_many_arguments)]
pub fn save_checkpoint<B: Backend>(be: &B, model: &DualEncoder<B>, spec: &RunSpec, done: usize, losses: &[f32], curve: &[CurvePoint], ctl: &RunControl, dir: &Path) -> Result<()> {
    let extra = HashMap::from([
        ("curve".to_string(), serde_json::to_string(curve)?),
        ("eval_every".to_string(), ctl.eval_every.to_string()),
        ("checkpoint_every".to_string(), ctl.checkpoint_every.to_string()),
    ]);
    save_checkpoint_with(be, model, spec, done, losses, extra, dir)
}

/// `save_checkpoint` with the run's own progress entries in `extra` (the learner's selection
/// statistics, its selection settings and reference).
pub fn save_checkpoint_with<B: Backend>(be: &B, model: &DualEncoder<B>, spec: &RunSpec, done: usize, losses: &[f32], extra: HashMap<String, String>, dir: &Path) -> Result<()> {
    let tensors = model.params.to_host(be, true)?;
    if let Some((name, _, _)) = tensors.iter().find(|(_, _, v)| v.iter().any(|x| !x.is_finite())) {
        bail!(
            "training diverged: `{name}` holds NaN/inf after step {done}; the last good checkpoint is kept in {}. {DIVERGED_ADVICE}",
            dir.display()
        );
    }
    let mut meta = extra;
    meta.insert("format".into(), "jest-wgpu-checkpoint-1".into());
    meta.insert("spec".into(), serde_json::to_string(spec)?);
    meta.insert("step".into(), done.to_string());
    meta.insert("losses".into(), serde_json::to_string(losses)?);
    save_safetensors(&dir.join(CHECKPOINT_FILE), &tensors, meta)
}

/// Save the trained weights alone (what `eval --model` and `select --reference` read).
pub fn save_model<B: Backend>(be: &B, model: &DualEncoder<B>, spec: &RunSpec, path: &Path) -> Result<()> {
    save_safetensors(path, &model.params.to_host(be, false)?, model_meta(spec)?)
}

/// The metadata of a model file: its format and run description (`load_model` reads them).
pub fn model_meta(spec: &RunSpec) -> Result<HashMap<String, String>> {
    let mut meta = HashMap::new();
    meta.insert("format".into(), "jest-wgpu-model-1".into());
    meta.insert("spec".into(), serde_json::to_string(spec)?);
    Ok(meta)
}

fn spec_of(meta: &HashMap<String, String>, path: &Path) -> Result<RunSpec> {
    let s = meta.get("spec").with_context(|| format!("{} has no jest-wgpu run description; was it written by jest-wgpu?", path.display()))?;
    serde_json::from_str(s).with_context(|| format!("{}: unreadable run description", path.display()))
}

/// The run description stored in a model file, without building the model (to check that it
/// fits before any work).
pub fn model_spec(path: &Path) -> Result<RunSpec> {
    spec_of(&load_safetensors(path)?.1, path)
}

/// Load a model file written by `save_model` (or a checkpoint).
pub fn load_model<B: Backend>(be: &B, path: &Path) -> Result<(DualEncoder<B>, RunSpec)> {
    let (tensors, meta) = load_safetensors(path)?;
    model_from_tensors(be, &tensors, &meta, path)
}

/// `load_model` of a file's bytes (the browser has no file system); `what` names it in errors.
pub fn load_model_bytes<B: Backend>(be: &B, bytes: &[u8], what: &str) -> Result<(DualEncoder<B>, RunSpec)> {
    let (tensors, meta) = crate::model::params::parse_safetensors(bytes, what)?;
    model_from_tensors(be, &tensors, &meta, Path::new(what))
}

fn model_from_tensors<B: Backend>(be: &B, tensors: &crate::model::params::TensorMap, meta: &HashMap<String, String>, path: &Path) -> Result<(DualEncoder<B>, RunSpec)> {
    let spec = spec_of(meta, path)?;
    let model = new_model(be, &spec)?;
    model.params.from_host(be, tensors, false, path)?;
    Ok((model, spec))
}

/// Where a resumed run starts: steps done, losses and evaluations so far.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    pub done: usize,
    pub losses: Vec<f32>,
    pub curve: Vec<CurvePoint>,
    /// the run's evaluation cadence (a resumed run keeps it, so its curve is the same)
    pub eval_every: Option<usize>,
    /// the run's checkpoint cadence (kept unless `--checkpoint-every` is given again)
    pub checkpoint_every: Option<usize>,
}

/// Load `DIR/checkpoint.safetensors`: the model with its optimizer state, the spec, and the
/// progress so far.
pub fn load_checkpoint<B: Backend>(be: &B, dir: &Path) -> Result<(DualEncoder<B>, RunSpec, Progress)> {
    let (model, spec, done, losses, meta) = load_checkpoint_with(be, dir)?;
    let path = dir.join(CHECKPOINT_FILE);
    let curve = serde_json::from_str(meta.get("curve").map(String::as_str).unwrap_or("[]")).with_context(|| format!("{}: unreadable evaluation curve", path.display()))?;
    let eval_every = meta.get("eval_every").and_then(|s| s.parse().ok());
    let checkpoint_every = meta.get("checkpoint_every").and_then(|s| s.parse().ok());
    Ok((model, spec, Progress { done, losses, curve, eval_every, checkpoint_every }))
}

/// What to do after a divergence: the kept checkpoint cannot be resumed at another learning rate.
pub const DIVERGED_ADVICE: &str = "Start a new run with a lower --lr (a run continued with --resume keeps its stored learning rate and diverges again)";

/// For a divergence error: where the last good checkpoint is, if the run has written one.
pub fn kept_checkpoint(run_dir: Option<&Path>) -> String {
    match run_dir {
        Some(d) if d.join(CHECKPOINT_FILE).exists() => format!("; the last good checkpoint is kept in {}", d.display()),
        _ => String::new(),
    }
}

/// Take the run folder DIR's lock (held while the run trains there), then remove what a killed
/// run left half-written in it — only now, since a live run's temporaries are its own.
#[cfg(not(target_arch = "wasm32"))]
pub fn lock_run_dir(dir: &Path) -> Result<crate::util::RunLock> {
    let lock = crate::util::RunLock::take(dir)?;
    remove_stale_temporaries(dir);
    Ok(lock)
}

/// Remove what a killed run left half-written in DIR (`checkpoint.safetensors.tmp<pid>`: the
/// checkpoint it was writing when it died; the last complete one is untouched).
#[cfg(not(target_arch = "wasm32"))]
fn remove_stale_temporaries(dir: &Path) {
    let prefix = format!("{CHECKPOINT_FILE}.tmp");
    // write_atomic's temporaries only: the prefix and a process id
    let is_temporary = |name: &str| name.strip_prefix(&prefix).is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if is_temporary(&entry.file_name().to_string_lossy()) && std::fs::remove_file(entry.path()).is_ok() {
            eprintln!("removed {}, a checkpoint a killed run left half-written", entry.path().display());
        }
    }
}

/// `DIR/checkpoint.safetensors`, or a clear error when there is none.
fn checkpoint_file(dir: &Path) -> Result<PathBuf> {
    let path = dir.join(CHECKPOINT_FILE);
    if !path.exists() {
        bail!("no checkpoint to resume in {} (expected {CHECKPOINT_FILE}); start the run without --resume", dir.display());
    }
    Ok(path)
}

/// The run description of `DIR/checkpoint.safetensors`, without building the model (to tell
/// which command resumes it).
pub fn checkpoint_spec(dir: &Path) -> Result<RunSpec> {
    let path = checkpoint_file(dir)?;
    spec_of(&load_safetensors(&path)?.1, &path)
}

/// `load_checkpoint` returning the steps done, the losses and the checkpoint's metadata as
/// stored (for runs that keep more progress than a curve).
#[allow(clippy::type_complexity)]
pub fn load_checkpoint_with<B: Backend>(be: &B, dir: &Path) -> Result<(DualEncoder<B>, RunSpec, usize, Vec<f32>, HashMap<String, String>)> {
    let path = checkpoint_file(dir)?;
    let (tensors, meta) = load_safetensors(&path)?;
    if meta.get("format").is_some_and(|f| f == "jest-wgpu-model-1") {
        bail!("{} is a trained model (what --out writes), not a checkpoint to resume: a run folder's checkpoint holds the optimizer state too; start a new run", path.display());
    }
    let spec = spec_of(&meta, &path)?;
    let model = new_model(be, &spec)?;
    model.params.from_host(be, &tensors, true, &path)?;
    let done: usize = meta.get("step").and_then(|s| s.parse().ok()).with_context(|| format!("{}: missing step count", path.display()))?;
    let losses: Vec<f32> = serde_json::from_str(meta.get("losses").map(String::as_str).unwrap_or("[]"))
        .with_context(|| format!("{}: unreadable losses", path.display()))?;
    if losses.len() != done {
        bail!("{}: corrupt checkpoint ({} losses for {done} steps)", path.display(), losses.len());
    }
    Ok((model, spec, done, losses, meta))
}

/// Train `model` on `train` for the steps of `spec`, starting after `done` steps.
#[allow(clippy::too_many_arguments)]
pub fn train<B: Backend>(
    be: &B,
    model: &mut DualEncoder<B>,
    spec: &RunSpec,
    ctl: &RunControl,
    train: &Encoded,
    test: Option<&Encoded>,
    tok: &Tokenizer,
    start: Progress,
) -> Result<TrainReport> {
    let Progress { done, mut losses, mut curve, .. } = start;
    let b = spec.preset.train.batch;
    if train.len() < b {
        bail!("the training split has {} items, fewer than one batch of {b}; lower --batch", train.len());
    }
    let log_every = spec.preset.train.log_every.max(1);
    let ring = be.zeros(log_every);
    #[cfg(not(target_arch = "wasm32"))]
    let bar = progress_bar(ctl.progress, spec.steps as u64, done as u64, &spec.method);
    #[cfg(not(target_arch = "wasm32"))]
    let t0 = std::time::Instant::now();
    #[cfg_attr(target_arch = "wasm32", allow(unused_mut))]
    let mut last_log_ms = 0.0;
    #[cfg(not(target_arch = "wasm32"))]
    let mut eval_ms = 0.0; // evaluation time so far, left out of ms per step
    for step in done..spec.steps {
        let idx = step_indices(train.len(), b, spec.seed, step as u64);
        model.upload(be, &train.batch(&idx));
        model.forward(be, b);
        model.backward(be, b);
        model.optimizer_step(be, &adam_hp(spec, step));
        be.copy(&ring, step % log_every, &model.ws(b).stats, 0, 1);
        let last = step + 1 == spec.steps;
        let checkpoint_now = ctl.run_dir.is_some() && ctl.checkpoint_every > 0 && (step + 1) % ctl.checkpoint_every == 0;
        let log_now = (step + 1) % log_every == 0 || last || checkpoint_now;
        let first = losses.len();
        if log_now {
            let vals = be.read(&ring)?;
            for s in first..=step {
                losses.push(vals[s % log_every]);
            }
            if let Some(bad) = losses[first..].iter().position(|l| !l.is_finite()) {
                let kept = kept_checkpoint(ctl.run_dir.as_deref());
                bail!(
                    "training diverged: loss is {} at step {}{kept}. {DIVERGED_ADVICE}, or check the data",
                    losses[first + bad],
                    first + bad + 1
                );
            }
        }
        // evaluated before the log line so that it can show R@1; its time is not a step's
        let eval_now = ctl.eval_every > 0 && (step + 1) % ctl.eval_every == 0 && !last;
        #[cfg(not(target_arch = "wasm32"))]
        let mut r1 = String::new();
        if let (true, Some(test)) = (eval_now, test) {
            #[cfg(not(target_arch = "wasm32"))]
            let te = std::time::Instant::now();
            let ev = evaluate(be, model, test, tok)?;
            #[cfg(not(target_arch = "wasm32"))]
            {
                eval_ms += crate::util::ms_since(te);
                r1 = format!("  r@1 {:.3}", (ev.i2t_r1 + ev.t2i_r1) / 2.0);
            }
            curve.push(CurvePoint { step: step + 1, examples: (step + 1) * b, eval: ev });
        }
        #[cfg(not(target_arch = "wasm32"))]
        if log_now {
            let ms = crate::util::ms_since(t0) - eval_ms;
            let per = (ms - last_log_ms) / (step + 1 - first) as f64;
            last_log_ms = ms;
            let line = format!("step {:>5}  loss {:.4}{r1}  ({per:.0} ms)", step + 1, losses[step]);
            if ctl.log && bar.is_hidden() {
                eprintln!("{line}");
            } else if ctl.log {
                bar.println(line);
            }
            bar.set_position(step as u64 + 1);
            bar.set_message(format!("loss {:.4}", losses[step]));
        }
        if let (true, Some(dir)) = (checkpoint_now, &ctl.run_dir) {
            save_checkpoint(be, model, spec, step + 1, &losses, &curve, ctl, dir)?;
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    let ms_per_step = (crate::util::ms_since(t0) - eval_ms) / (spec.steps - done).max(1) as f64;
    #[cfg(target_arch = "wasm32")]
    let ms_per_step = {
        let _ = last_log_ms;
        0.0
    };
    #[cfg(not(target_arch = "wasm32"))]
    bar.finish_and_clear();
    let eval = match test {
        Some(test) => {
            let ev = evaluate(be, model, test, tok)?;
            curve.push(CurvePoint { step: spec.steps, examples: spec.steps * b, eval: ev.clone() });
            Some(ev)
        }
        None => None,
    };
    if let Some(dir) = &ctl.run_dir {
        save_checkpoint(be, model, spec, spec.steps, &losses, &curve, ctl, dir)?;
    }
    Ok(TrainReport { losses, ms_per_step, curve, eval })
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn progress_bar(show: bool, total: u64, pos: u64, what: &str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps  {msg}  ({elapsed} < {eta})")
            .unwrap()
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar.set_position(pos);
    bar
}
