//! Learner training with data selection. One step: draw a super-batch of B, embed it with the
//! learner (inference), score it against the cached reference embeddings (B×B matrix on the
//! device), draw b examples with the joint sampler, gather them on the device, then
//! forward/backward/AdamW — no read-back inside the step. Losses, chosen indices and the
//! learnability of the chosen batches are read back every `log_every` steps. Checkpoints and
//! `--resume` (module `resume`) continue a run to the same losses.

use std::collections::BTreeMap;
use std::rc::Rc;
#[cfg(not(target_arch = "wasm32"))]
use std::time::Instant;

use anyhow::{bail, Result};

use super::cache::RefCache;
use super::flops::step_flops;
use super::method::{Method, SelectConfig};
use super::resume::{save_learner, LearnerCheckpoints, LearnerProgress};
use super::step::Stepper;
use crate::backend::{Backend, ScoreMode};
use crate::batch::{step_indices, Encoded};
use crate::data::{NoiseKind, Tokenizer};
use crate::eval::evaluate;
use crate::model::DualEncoder;
use crate::report::{CurveRow, MethodResult, SelectionRow};
use crate::train::{adam_hp, RunSpec};

/// Evaluation points averaged for `r1_smoothed`.
const SMOOTH: usize = 3;

/// Options of one learner run.
pub struct LearnerRun<'a> {
    pub spec: &'a RunSpec,
    pub method: Method,
    pub select: &'a SelectConfig,
    pub pool: &'a Encoded<'a>,
    pub test: &'a Encoded<'a>,
    pub tok: &'a Tokenizer,
    pub reference: Option<Rc<RefCache>>,
    pub eval_every: usize,
    pub progress: bool,
    /// one line per logged step on stderr: `step   120  loss 0.4120  r@1 0.031  (38 ms)`
    pub log: bool,
    /// checkpoint into a run directory (`train --run-dir`)
    pub checkpoints: Option<LearnerCheckpoints<'a>>,
}

/// Share of each noise kind among counted examples.
pub(crate) fn noise_shares(counts: &[usize; NoiseKind::ALL.len()]) -> BTreeMap<String, f64> {
    let total: usize = counts.iter().sum();
    NoiseKind::ALL.iter().map(|k| (k.as_str().to_string(), counts[k.index()] as f64 / total.max(1) as f64)).collect()
}

/// Train a learner with `run.method` from `start` (a fresh run: `LearnerProgress::default()`);
/// evaluate every `eval_every` steps.
pub fn train_learner<B: Backend>(be: &B, model: &mut DualEncoder<B>, run: &LearnerRun, start: LearnerProgress) -> Result<MethodResult> {
    let spec = run.spec;
    let stepper = Stepper::new(be, model, &spec.preset, run.method, run.select, run.pool.len(), run.reference.clone(), spec.seed)?;
    let (b, bsz) = (stepper.b, stepper.bsz);
    let mode = run.method.score_mode();
    let has_reference = stepper.reference.is_some();
    let log_every = spec.preset.train.log_every.max(1);
    let diag = be.zeros(bsz * bsz);
    let idx_ring = be.zeros(log_every * b);
    let loss_ring = be.zeros(log_every);
    let flops = step_flops(&spec.preset.model, b, bsz, run.method, (model.image.low_size, stepper.n_low));
    let n_pool = run.pool.len();

    let LearnerProgress { done, losses, curve, selection, mut counts, mut window, mut learn_sum, mut learn_n } = start;
    let mut res = MethodResult {
        method: run.method.name().into(), seed: spec.seed, filter_ratio: run.select.filter_ratio, flops_per_step: flops.clone(),
        losses, curve, selection, ..Default::default()
    };
    let mut supers: Vec<Vec<usize>> = Vec::new(); // super-batches since the last read-back
    // timing: wall time of the whole loop minus what is not training (diagnostics, evaluation),
    // each bracketed by syncs so GPU work queued by earlier steps is not misattributed
    #[cfg_attr(target_arch = "wasm32", allow(unused_mut, unused_variables))]
    let (mut ms_score, mut ms_sample, mut ms_excluded) = (0.0f64, 0.0f64, 0.0f64);
    #[cfg_attr(target_arch = "wasm32", allow(unused_mut, unused_variables))]
    let mut phase_steps = 0usize;
    #[cfg(not(target_arch = "wasm32"))]
    let bar = crate::train::progress_bar(run.progress, spec.steps as u64, done as u64, run.method.name());
    #[cfg(not(target_arch = "wasm32"))]
    let (mut last_log, mut log_excluded) = ((Instant::now(), done), 0.0f64);
    let pool_noise = &run.pool.data.noise;

    #[cfg(not(target_arch = "wasm32"))]
    let loop_start = Instant::now();
    for step in done..spec.steps {
        let eval_now = (run.eval_every > 0 && (step + 1) % run.eval_every == 0) || step + 1 == spec.steps;
        let checkpoint_now = run.checkpoints.as_ref().is_some_and(|c| (c.every > 0 && (step + 1) % c.every == 0) || step + 1 == spec.steps);
        let log_step = (step + 1) % log_every == 0 || eval_now;
        let logged = log_step || checkpoint_now; // read back (a checkpoint needs the losses)
        #[cfg(not(target_arch = "wasm32"))]
        let t0 = {
            if logged {
                be.sync()?; // earlier steps' queued work belongs to them
            }
            Instant::now()
        };
        let sup = step_indices(n_pool, bsz, spec.seed, step as u64);
        let diag_now = log_step && has_reference; // the same samples whatever the checkpoint cadence
        // ---- scoring: learner embeddings of the super-batch, reference rows, score matrix
        if mode.is_some() {
            stepper.score(be, model, run.pool, &sup);
        } else if diag_now {
            stepper.embed_super_batch(be, model, run.pool, &sup, false);
        }
        #[cfg(not(target_arch = "wasm32"))]
        let t1 = {
            if logged {
                be.sync()?;
            }
            if mode.is_none() {
                ms_excluded += (Instant::now() - t0).as_secs_f64() * 1e3; // uniform scores nothing
            }
            Instant::now()
        };
        // ---- selection: joint sampler + device-side gather (uniform: the first b)
        stepper.choose(be, model, run.pool, &sup, step);
        #[cfg(not(target_arch = "wasm32"))]
        let t2 = {
            if logged {
                be.sync()?;
            }
            Instant::now()
        };
        // learnability of the chosen batch, with the learner as it was when it chose
        // (a diagnostic at logged steps; its time is not counted in ms_per_step)
        #[cfg(not(target_arch = "wasm32"))]
        let t_diag = Instant::now();
        if diag_now {
            stepper.embed_full_res(be, model, run.pool, &sup);
            stepper.score_into(be, model, &diag, ScoreMode::Learnability, 1.0, false);
            let a = be.read(&diag)?;
            let chosen = be.read_u32(&stepper.idx)?;
            let a = &a;
            let s: f64 = chosen.iter().flat_map(|&i| chosen.iter().map(move |&j| a[i as usize * bsz + j as usize] as f64)).sum();
            learn_sum += s / (b * b) as f64;
            learn_n += 1;
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            ms_excluded += (Instant::now() - t_diag).as_secs_f64() * 1e3; // read-backs synced it
        }
        // ---- training on the chosen sub-batch
        stepper.train(be, model, &adam_hp(spec, step));
        be.copy(&loss_ring, step % log_every, &model.ws(b).stats, 0, 1);
        be.copy(&idx_ring, (step % log_every) * b, &stepper.idx, 0, b);
        supers.push(sup);
        if logged {
            let losses = be.read(&loss_ring)?;
            let idx = be.read_u32(&idx_ring)?;
            let first = res.losses.len();
            for (k, s) in (first..=step).enumerate() {
                let loss = losses[s % log_every];
                if !loss.is_finite() {
                    let kept = crate::train::kept_checkpoint(run.checkpoints.as_ref().map(|c| c.dir));
                    bail!("training diverged: loss is {loss} at step {} of {}{kept}. {}", s + 1, run.method.name(), crate::train::DIVERGED_ADVICE);
                }
                res.losses.push(loss);
                for &i in &idx[(s % log_every) * b..(s % log_every + 1) * b] {
                    let kind = pool_noise[supers[k][i as usize]];
                    counts[kind.index()] += 1;
                    window[kind.index()] += 1;
                }
            }
            supers.clear();
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            if logged {
                if mode.is_some() {
                    ms_score += (t1 - t0).as_secs_f64() * 1e3;
                }
                ms_sample += (t2 - t1).as_secs_f64() * 1e3;
                phase_steps += 1;
            }
            bar.set_position(step as u64 + 1);
            if logged {
                bar.set_message(format!("loss {:.4}", res.losses[step]));
            }
        }
        if eval_now {
            #[cfg(not(target_arch = "wasm32"))]
            let t_eval = Instant::now();
            let ev = evaluate(be, model, run.test, run.tok)?;
            #[cfg(not(target_arch = "wasm32"))]
            {
                ms_excluded += (Instant::now() - t_eval).as_secs_f64() * 1e3;
            }
            let since = res.curve.last().map(|c| c.step).unwrap_or(0);
            let loss = res.losses[since..=step].iter().map(|&x| x as f64).sum::<f64>() / (step + 1 - since) as f64;
            let r1 = (ev.i2t_r1 + ev.t2i_r1) / 2.0;
            let recent: Vec<f64> = res.curve.iter().rev().take(SMOOTH - 1).map(|c| (c.i2t_r1 + c.t2i_r1) / 2.0).chain([r1]).collect();
            res.curve.push(CurveRow {
                step: step + 1,
                examples: (step + 1) * b,
                flops: (step + 1) as f64 * flops.total,
                zero_shot_acc: ev.zero_shot_acc,
                i2t_r1: ev.i2t_r1,
                t2i_r1: ev.t2i_r1,
                i2t_r5: ev.i2t_r5,
                t2i_r5: ev.t2i_r5,
                r1_smoothed: recent.iter().sum::<f64>() / recent.len() as f64,
                // i2t and t2i are correlated: count the items once
                r1_stderr: (r1 * (1.0 - r1) / ev.items as f64).sqrt(),
                loss,
            });
            res.selection.push(SelectionRow {
                step: step + 1,
                noise_share: noise_shares(&window),
                learnability: if learn_n > 0 { learn_sum / learn_n as f64 } else { f64::NAN },
            });
            window = [0; NoiseKind::ALL.len()];
            learn_sum = 0.0;
            learn_n = 0;
        }
        #[cfg(not(target_arch = "wasm32"))]
        if logged && run.log {
            let (t, s0) = last_log;
            let per = ((Instant::now() - t).as_secs_f64() * 1e3 - (ms_excluded - log_excluded)) / (step + 1 - s0) as f64;
            let r1 = match res.curve.last() {
                Some(c) if eval_now => format!("  r@1 {:.3}", (c.i2t_r1 + c.t2i_r1) / 2.0),
                _ => String::new(),
            };
            let line = format!("step {:>5}  loss {:.4}{r1}  ({per:.0} ms)", step + 1, res.losses[step]);
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
        }
        if let (true, Some(ck)) = (checkpoint_now, &run.checkpoints) {
            #[cfg(not(target_arch = "wasm32"))]
            let t_save = Instant::now();
            let p = LearnerProgress {
                done: step + 1,
                losses: res.losses.clone(),
                curve: res.curve.clone(),
                selection: res.selection.clone(),
                counts,
                window,
                learn_sum,
                learn_n,
            };
            save_learner(be, model, spec, &p, ck)?;
            #[cfg(not(target_arch = "wasm32"))]
            {
                ms_excluded += (Instant::now() - t_save).as_secs_f64() * 1e3;
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        if logged {
            last_log = (Instant::now(), step + 1);
            log_excluded = ms_excluded;
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    bar.finish_and_clear();
    #[cfg(not(target_arch = "wasm32"))]
    {
        be.sync()?;
        let total = loop_start.elapsed().as_secs_f64() * 1e3;
        res.ms_per_step = (total - ms_excluded) / (spec.steps - done).max(1) as f64;
        res.ms_scoring = ms_score / phase_steps.max(1) as f64;
        res.ms_sampling = ms_sample / phase_steps.max(1) as f64;
    }
    res.final_ = res.curve.last().cloned().unwrap_or_default();
    res.selected_noise_share = noise_shares(&counts);
    Ok(res)
}
