//! Checkpoints of a learner run with data selection, and its exact `--resume`: the weights and
//! Adam moments, the losses, evaluations and selection statistics so far, the selection
//! settings and which reference scored it. Super-batches, the sampler's noise and Flexi-JEST's
//! split are counter-based on (seed, step), so nothing else is needed to continue the same run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::cache::sha256_file;
use super::method::SelectConfig;
use crate::backend::Backend;
use crate::data::NoiseKind;
use crate::model::DualEncoder;
use crate::report::{CurveRow, SelectionRow};
use crate::train::{load_checkpoint_with, save_checkpoint_with, RunSpec, CHECKPOINT_FILE};

/// Where a learner run stands after `done` steps (empty for a fresh run).
#[derive(Clone, Debug, Default)]
pub struct LearnerProgress {
    pub done: usize,
    pub losses: Vec<f32>,
    pub curve: Vec<CurveRow>,
    pub selection: Vec<SelectionRow>,
    /// chosen examples per noise kind: over the whole run, and since the last evaluation
    pub counts: [usize; NoiseKind::ALL.len()],
    pub window: [usize; NoiseKind::ALL.len()],
    /// learnability of the chosen batches since the last evaluation: sum and count
    pub learn_sum: f64,
    pub learn_n: usize,
}

/// Where a learner run checkpoints and what it records about its reference.
pub struct LearnerCheckpoints<'a> {
    pub dir: &'a Path,
    /// every this many steps (0 = only at the end)
    pub every: usize,
    pub select: &'a SelectConfig,
    /// the reference file and its SHA-256, hashed once when the run loaded it
    pub reference: Option<(&'a Path, &'a str)>,
    /// the run's evaluation cadence: a resumed run keeps it, so its curve is the same
    pub eval_every: usize,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    select: SelectConfig,
    eval_every: usize,
    checkpoint_every: usize,
    reference: Option<PathBuf>,
    reference_sha256: Option<String>,
    curve: Vec<CurveRow>,
    selection: Vec<SelectionRow>,
    counts: Vec<usize>,
    window: Vec<usize>,
    learn_sum: f64,
    learn_n: usize,
}

const KEY: &str = "learner";

/// Write `dir/checkpoint.safetensors` atomically (refused when a weight is NaN/inf).
pub fn save_learner<B: Backend>(be: &B, model: &DualEncoder<B>, spec: &RunSpec, p: &LearnerProgress, ck: &LearnerCheckpoints) -> Result<()> {
    let stored = Stored {
        select: ck.select.clone(),
        eval_every: ck.eval_every,
        checkpoint_every: ck.every,
        reference: ck.reference.map(|(p, _)| p.to_path_buf()),
        reference_sha256: ck.reference.map(|(_, sha)| sha.to_string()),
        curve: p.curve.clone(),
        selection: p.selection.clone(),
        counts: p.counts.to_vec(),
        window: p.window.to_vec(),
        learn_sum: p.learn_sum,
        learn_n: p.learn_n,
    };
    let extra = HashMap::from([(KEY.to_string(), serde_json::to_string(&stored)?)]);
    save_checkpoint_with(be, model, spec, p.done, &p.losses, extra, ck.dir)
}

/// What a learner run starts from: a fresh model and the command's settings, or what
/// `load_learner` restores.
pub struct LearnerStart<B: Backend> {
    pub model: DualEncoder<B>,
    pub spec: RunSpec,
    pub select: SelectConfig,
    pub reference: Option<PathBuf>,
    pub eval_every: usize,
    pub checkpoint_every: usize,
    pub progress: LearnerProgress,
}

/// Load `dir/checkpoint.safetensors` of a learner run. The reference it was scored with must
/// still be the same file: a changed one would silently make a different run. `moved` names
/// that reference at a new place (a moved project): accepted when its SHA-256 is the stored one.
pub fn load_learner<B: Backend>(be: &B, dir: &Path, moved: Option<&Path>) -> Result<LearnerStart<B>> {
    let (model, spec, done, losses, meta) = load_checkpoint_with(be, dir)?;
    let path = dir.join(CHECKPOINT_FILE);
    let text = meta
        .get(KEY)
        .with_context(|| format!("{} holds a `{}` run but no selection state: it is corrupt or from an older jest-wgpu; start the run again", path.display(), spec.method))?;
    let mut s: Stored = serde_json::from_str(text).with_context(|| format!("{}: unreadable selection state", path.display()))?;
    let kinds = NoiseKind::ALL.len();
    if s.counts.len() != kinds || s.window.len() != kinds || s.curve.len() != s.selection.len() {
        bail!("{}: corrupt checkpoint (selection state does not match its curve)", path.display());
    }
    if let (Some(stored), Some(want)) = (&s.reference, &s.reference_sha256) {
        let r = match moved {
            Some(m) => std::fs::canonicalize(m).with_context(|| format!("cannot read reference checkpoint {}", m.display()))?,
            None => stored.clone(),
        };
        let now = sha256_file(&r).with_context(|| {
            format!("the run in {} was scored with reference {}; if that file moved, pass its new path with --reference", dir.display(), stored.display())
        })?;
        if &now != want {
            match moved {
                Some(_) => bail!("--reference {} is not the reference the run in {} was scored with ({}, sha256 {want:.12}…)", r.display(), dir.display(), stored.display()),
                None => bail!(
                    "reference {} changed since the run in {} was checkpointed; resuming would score with another model. Restore that file or start a new run",
                    r.display(),
                    dir.display()
                ),
            }
        }
        s.reference = Some(r);
    }
    let mut progress = LearnerProgress { done, losses, curve: s.curve, selection: s.selection, learn_sum: s.learn_sum, learn_n: s.learn_n, ..Default::default() };
    progress.counts.copy_from_slice(&s.counts);
    progress.window.copy_from_slice(&s.window);
    Ok(LearnerStart { model, spec, select: s.select, reference: s.reference, eval_every: s.eval_every, checkpoint_every: s.checkpoint_every, progress })
}
