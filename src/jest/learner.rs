//! Learner training with data selection. One step: draw a super-batch of B, embed it with the
//! learner (inference), score it against the cached reference embeddings (B×B matrix on the
//! device), draw b examples with the joint sampler, gather them on the device, then
//! forward/backward/AdamW — no read-back inside the step. Losses, chosen indices and the
//! learnability of the chosen batches are read back every `log_every` steps.

use std::collections::BTreeMap;
#[cfg(not(target_arch = "wasm32"))]
use std::time::Instant;

use anyhow::{bail, Result};

use super::cache::RefCache;
use super::flops::step_flops;
use super::method::{Method, SelectConfig};
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
    pub reference: Option<&'a RefCache>,
    pub eval_every: usize,
    pub progress: bool,
}

/// Device buffers of the selection path.
struct SelectBufs<B: Backend> {
    a: B::Buf,
    diag: B::Buf,
    sums: B::Buf,
    idx: B::Buf,
    idx_ring: B::Buf,
    loss_ring: B::Buf,
    u_r: B::Buf,
    v_r: B::Buf,
    tb_r: B::Buf,
}

fn noise_shares(counts: &[usize; NoiseKind::ALL.len()]) -> BTreeMap<String, f64> {
    let total: usize = counts.iter().sum();
    NoiseKind::ALL.iter().map(|k| (k.as_str().to_string(), counts[k.index()] as f64 / total.max(1) as f64)).collect()
}

/// Train a fresh learner with `run.method`; evaluate every `eval_every` steps.
pub fn train_learner<B: Backend>(be: &B, model: &mut DualEncoder<B>, run: &LearnerRun) -> Result<MethodResult> {
    let spec = run.spec;
    let b = spec.preset.train.batch;
    let bsz = run.select.super_batch(b)?;
    let n_pool = run.pool.len();
    if n_pool < bsz {
        bail!("the pool has {n_pool} items, fewer than a super-batch of {bsz}; lower --batch or --filter-ratio");
    }
    spec.preset.model.check_fits(bsz, be.max_buffer_bytes(), &be.adapter_name())?;
    let mode = run.method.score_mode();
    if mode.is_some() && bsz <= b {
        bail!("filter ratio {} gives a super-batch of {bsz} for b = {b}: there is nothing to select from; use a larger --filter-ratio", run.select.filter_ratio);
    }
    let d = spec.preset.model.embed_dim;
    let reference = match (run.method.needs_reference(), run.reference) {
        (true, None) => bail!("method {} needs a reference model (--reference FILE)", run.method.name()),
        (_, Some(r)) if r.d != d => bail!("the reference embeds into {} dimensions but this learner into {d}: use the same preset", r.d),
        (_, r) => r,
    };
    let log_every = spec.preset.train.log_every.max(1);
    let bufs = SelectBufs::<B> {
        a: be.zeros(bsz * bsz),
        diag: be.zeros(bsz * bsz),
        sums: be.zeros(2 * bsz),
        idx: be.upload_u32(&(0..b as u32).collect::<Vec<_>>()),
        idx_ring: be.zeros(log_every * b),
        loss_ring: be.zeros(log_every),
        u_r: be.zeros(bsz * d),
        v_r: be.zeros(bsz * d),
        tb_r: be.upload(&reference.map(|r| r.t_bias.to_vec()).unwrap_or(vec![0.0, 0.0])),
    };
    let flops = step_flops(&spec.preset.model, b, bsz, run.method);
    let flexi = run.method.flexi();
    if flexi && !(spec.preset.model.image_size / spec.preset.model.patch).is_multiple_of(2) {
        bail!("flexi-jest pools the {0}×{0} patch grid 2×2: it needs an even grid (image_size / patch)", spec.preset.model.image_size / spec.preset.model.patch);
    }
    let px = spec.preset.model.image_size.pow(2) * 3;
    let l = spec.preset.model.text_len;
    model.workspace_at(be, bsz, flexi);
    model.workspace(be, b);
    // Flexi-JEST: a fresh random order of the chosen b each step (first half full resolution)
    let perm = be.zeros(b);
    let chosen_perm = be.zeros(b);

    let mut res = MethodResult { method: run.method.name().into(), seed: spec.seed, filter_ratio: run.select.filter_ratio, flops_per_step: flops.clone(), ..Default::default() };
    let mut supers: Vec<Vec<usize>> = Vec::new(); // super-batches since the last read-back
    let mut counts = [0usize; NoiseKind::ALL.len()];
    let mut window = [0usize; NoiseKind::ALL.len()];
    let (mut learn_sum, mut learn_n) = (0.0f64, 0usize);
    // timing: wall time of the whole loop minus what is not training (diagnostics, evaluation),
    // each bracketed by syncs so GPU work queued by earlier steps is not misattributed
    let (mut ms_score, mut ms_sample, mut ms_excluded) = (0.0f64, 0.0f64, 0.0f64);
    let mut phase_steps = 0usize;
    #[cfg(not(target_arch = "wasm32"))]
    let bar = crate::train::progress_bar(run.progress, spec.steps as u64, 0, run.method.name());
    let pool_noise = &run.pool.data.noise;

    #[cfg(not(target_arch = "wasm32"))]
    let loop_start = Instant::now();
    for step in 0..spec.steps {
        let eval_now = (run.eval_every > 0 && (step + 1) % run.eval_every == 0) || step + 1 == spec.steps;
        let logged = (step + 1) % log_every == 0 || eval_now;
        #[cfg(not(target_arch = "wasm32"))]
        let t0 = {
            if logged {
                be.sync()?; // earlier steps' queued work belongs to them
            }
            Instant::now()
        };
        let sup = step_indices(n_pool, bsz, spec.seed, step as u64);
        let diag_now = logged && reference.is_some();
        // ---- scoring: learner embeddings of the super-batch, reference rows, score matrix
        if mode.is_some() || diag_now {
            model.upload_at(be, &run.pool.batch(&sup), flexi);
            if run.method.needs_learner_scoring() {
                model.forward_towers_at(be, bsz, flexi);
            }
            if let Some(r) = reference {
                let (u, v) = r.rows(&sup);
                be.write(&bufs.u_r, &u);
                be.write(&bufs.v_r, &v);
            }
        }
        if let Some(mode) = mode {
            let ws_big = model.ws_at(bsz, flexi);
            let tb_l = &model.params.get(model.t_bias).value;
            be.score_matrix(&bufs.a, &ws_big.image.emb, &ws_big.text.emb, tb_l, &bufs.u_r, &bufs.v_r, &bufs.tb_r, bsz, d, mode, run.select.score_gain);
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
        if mode.is_some() {
            be.joint_sample(&bufs.idx, &bufs.a, &bufs.sums, bsz, b, run.select.chunks, run.method.joint(), spec.seed as u32, step as u32);
            let mut idx = &bufs.idx;
            if flexi {
                let mut order: Vec<u32> = (0..b as u32).collect();
                crate::data::SplitMix64::new(spec.seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).shuffle(&mut order);
                be.write_u32(&perm, &order);
                be.gather_rows(&chosen_perm, &bufs.idx, &perm, b, 1);
                idx = &chosen_perm;
            }
            let (ws_big, ws_small) = (model.ws_at(bsz, flexi), model.ws(b));
            be.gather_rows(&ws_small.image.input, &ws_big.image.input, idx, b, px);
            be.gather_rows(&ws_small.text.input, &ws_big.text.input, idx, b, l);
            be.gather_rows(&ws_small.text.lens, &ws_big.text.lens, idx, b, 1);
        } else {
            model.upload(be, &run.pool.batch(&sup[..b]));
        }
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
            if flexi {
                model.upload(be, &run.pool.batch(&sup));
            }
            if !run.method.needs_learner_scoring() || flexi {
                model.forward_towers(be, bsz);
            }
            let ws_big = model.ws(bsz);
            let tb_l = &model.params.get(model.t_bias).value;
            be.score_matrix(&bufs.diag, &ws_big.image.emb, &ws_big.text.emb, tb_l, &bufs.u_r, &bufs.v_r, &bufs.tb_r, bsz, d, ScoreMode::Learnability, 1.0);
            let a = be.read(&bufs.diag)?;
            let chosen = be.read_u32(&bufs.idx)?;
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
        if flexi {
            model.forward_mixed(be, b);
            model.backward_mixed(be, b);
        } else {
            model.forward(be, b);
            model.backward(be, b);
        }
        model.optimizer_step(be, &adam_hp(spec, step));
        be.copy(&bufs.loss_ring, step % log_every, &model.ws(b).stats, 0, 1);
        be.copy(&bufs.idx_ring, (step % log_every) * b, &bufs.idx, 0, b);
        supers.push(sup);
        if logged {
            let losses = be.read(&bufs.loss_ring)?;
            let idx = be.read_u32(&bufs.idx_ring)?;
            let first = res.losses.len();
            for (k, s) in (first..=step).enumerate() {
                let loss = losses[s % log_every];
                if !loss.is_finite() {
                    bail!("training diverged: loss is {loss} at step {} of {}; lower the learning rate (--lr)", s + 1, run.method.name());
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
    }
    #[cfg(not(target_arch = "wasm32"))]
    bar.finish_and_clear();
    #[cfg(not(target_arch = "wasm32"))]
    {
        be.sync()?;
        let total = loop_start.elapsed().as_secs_f64() * 1e3;
        res.ms_per_step = (total - ms_excluded) / spec.steps.max(1) as f64;
        res.ms_scoring = ms_score / phase_steps.max(1) as f64;
        res.ms_sampling = ms_sample / phase_steps.max(1) as f64;
    }
    res.final_ = res.curve.last().cloned().unwrap_or_default();
    res.selected_noise_share = noise_shares(&counts);
    Ok(res)
}
