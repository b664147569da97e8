//! One learner step with data selection, in three device-side phases with no read-back:
//! score (learner embeddings of the super-batch + reference rows → B×B score matrix),
//! select (joint sampler + gather into the training workspace) and train
//! (forward/backward/AdamW). Where the learner scored the super-batch at full resolution, the
//! training forward is not recomputed: the chosen rows of the scoring forward's activations
//! are gathered (JEST.md's F·(2 + B/b) per step); Flexi-JEST, which scores at low resolution,
//! recomputes the image tower but gathers the text tower's activations (the captions are the
//! same at both resolutions). Shared by `train_learner` and the demo.

use std::rc::Rc;

use anyhow::{bail, Result};

use super::cache::RefCache;
use super::method::{Method, SelectConfig};
use crate::backend::{AdamHp, Backend, ScoreMode};
use crate::batch::Encoded;
use crate::config::Preset;
use crate::model::DualEncoder;

/// Device buffers and shapes of the selection path of one learner.
pub struct Stepper<B: Backend> {
    pub method: Method,
    pub select: SelectConfig,
    /// sub-batch b
    pub b: usize,
    /// super-batch B = b / (1 − f)
    pub bsz: usize,
    /// embedding dimension D
    pub d: usize,
    pub reference: Option<Rc<RefCache>>,
    seed: u64,
    /// image floats per example (s·s·3) and text tokens per example
    px: usize,
    text_len: usize,
    /// score matrix A [B, B] (with the method's mode and gain)
    pub a: B::Buf,
    /// running sums of the conditional scores [2B]
    sums: B::Buf,
    /// chosen positions into the super-batch [b], in chunk order
    pub idx: B::Buf,
    /// reference embeddings of the super-batch [B, D] each, and the reference's (t′, β)
    pub u_r: B::Buf,
    pub v_r: B::Buf,
    pub tb_r: B::Buf,
    /// Flexi-JEST: examples of each sub-batch trained at low resolution (0 for other methods)
    pub n_low: usize,
    /// Flexi-JEST: a random order of the chosen b [b] and the chosen in that order [b]
    perm: B::Buf,
    chosen_perm: B::Buf,
}

impl<B: Backend> Stepper<B> {
    /// Check a learner's sizes before any work: the super-batch fits the backend's buffers (and,
    /// on the CPU backend, the memory available), there is something to select from, and
    /// Flexi-JEST's settings are possible. Returns B and Flexi-JEST's (scoring size, n_low).
    pub fn check_sizes(be: &B, preset: &Preset, method: Method, select: &SelectConfig) -> Result<(usize, Option<(usize, usize)>)> {
        let b = preset.train.batch;
        let bsz = select.super_batch(b)?;
        preset.model.check_fits(bsz, be.max_buffer_bytes(), &be.adapter_name())?;
        // Flexi-JEST: the scoring resolution and how many of the b train at it
        let flexi = method.flexi().then(|| select.flexi(preset.model.image_size, preset.model.patch, b)).transpose()?;
        // the training batch and the scored super-batch (Flexi-JEST's at low resolution)
        let t = preset.model.image_tokens();
        let t_score = flexi.map_or(t, |(size, _)| (size / preset.model.patch).pow(2));
        preset.model.check_memory(be.kind(), &[(b, t), (bsz, t_score)])?;
        if method.score_mode().is_some() && bsz <= b {
            bail!("filter ratio {} gives a super-batch of {bsz} for b = {b}: there is nothing to select from; use a larger filter ratio", select.filter_ratio);
        }
        Ok((bsz, flexi))
    }

    #[allow(clippy::too_many_arguments)]
    /// Check the settings against the preset, pool and reference (clear errors before any
    /// training) and allocate the buffers and the model's workspaces.
    pub fn new(be: &B, model: &mut DualEncoder<B>, preset: &Preset, method: Method, select: &SelectConfig, pool_len: usize, reference: Option<Rc<RefCache>>, seed: u64) -> Result<Self> {
        let b = preset.train.batch;
        let (bsz, flexi) = Self::check_sizes(be, preset, method, select)?;
        if pool_len < bsz {
            bail!("the pool has {pool_len} items, fewer than a super-batch of {bsz}; lower the batch or the filter ratio");
        }
        let d = preset.model.embed_dim;
        let reference = match (method.needs_reference(), reference) {
            (true, None) => bail!("method {} needs a reference model (--reference FILE)", method.name()),
            (_, Some(r)) if r.d != d => bail!("the reference embeds into {} dimensions but this learner into {d}: use the same preset", r.d),
            (_, r) => r,
        };
        let mut n_low = 0;
        if let Some((size, low)) = flexi {
            model.set_low_size(size);
            n_low = low;
        }
        model.workspace_at(be, bsz, method.flexi());
        model.workspace(be, b);
        let tb_r = be.upload(&reference.as_ref().map(|r| r.t_bias.to_vec()).unwrap_or(vec![0.0, 0.0]));
        Ok(Stepper {
            method,
            select: select.clone(),
            b,
            bsz,
            d,
            reference,
            seed,
            px: preset.model.image_size.pow(2) * 3,
            text_len: preset.model.text_len,
            a: be.zeros(bsz * bsz),
            sums: be.zeros(2 * bsz),
            idx: be.upload_u32(&(0..b as u32).collect::<Vec<_>>()),
            u_r: be.zeros(bsz * d),
            v_r: be.zeros(bsz * d),
            tb_r,
            n_low,
            perm: be.zeros(b),
            chosen_perm: be.zeros(b),
        })
    }

    /// Upload the super-batch and the reference rows; with `learner` also embed it with the
    /// learner (at low resolution for Flexi-JEST). `sup` holds B pool indices.
    pub fn embed_super_batch(&self, be: &B, model: &mut DualEncoder<B>, pool: &Encoded, sup: &[usize], learner: bool) {
        let flexi = self.method.flexi();
        model.upload_at(be, &pool.batch(sup), flexi);
        if learner {
            model.forward_towers_at(be, self.bsz, flexi);
        }
        if let Some(r) = &self.reference {
            let (u, v) = r.rows(sup);
            be.write(&self.u_r, &u);
            be.write(&self.v_r, &v);
        }
    }

    /// Scoring phase: A = the method's score matrix of the super-batch (uniform: nothing).
    pub fn score(&self, be: &B, model: &mut DualEncoder<B>, pool: &Encoded, sup: &[usize]) {
        let Some(mode) = self.method.score_mode() else { return };
        self.embed_super_batch(be, model, pool, sup, self.method.needs_learner_scoring());
        self.score_into(be, model, &self.a, mode, self.select.score_gain, self.method.flexi());
    }

    /// After `score` (or `embed_super_batch`): the learner's full-resolution embeddings of the
    /// super-batch as it was when it chose, for diagnostics — recomputed only where scoring
    /// did not leave them (no learner scoring, or Flexi-JEST's low resolution).
    pub fn embed_full_res(&self, be: &B, model: &mut DualEncoder<B>, pool: &Encoded, sup: &[usize]) {
        if self.method.flexi() {
            model.upload(be, &pool.batch(sup));
        }
        if !self.method.needs_learner_scoring() || self.method.flexi() {
            model.forward_towers(be, self.bsz);
        }
    }

    /// A score matrix [B, B] of the super-batch's current embeddings (learner's at `lowres`,
    /// reference rows as uploaded): out[i, j] for image i and text j.
    pub fn score_into(&self, be: &B, model: &DualEncoder<B>, out: &B::Buf, mode: ScoreMode, gain: f32, lowres: bool) {
        let ws = model.ws_at(self.bsz, lowres);
        let tb_l = &model.params.get(model.t_bias).value;
        be.score_matrix(out, &ws.image.emb, &ws.text.emb, tb_l, &self.u_r, &self.v_r, &self.tb_r, self.bsz, self.d, mode, gain);
    }

    /// Selection phase: the joint sampler draws b of the super-batch and the chosen inputs are
    /// gathered on the device into the training workspace (uniform: the first b are uploaded;
    /// methods that reuse the scoring forward gather every activation in `train` instead).
    pub fn choose(&self, be: &B, model: &mut DualEncoder<B>, pool: &Encoded, sup: &[usize], step: usize) {
        let b = self.b;
        if self.method.score_mode().is_none() {
            model.upload(be, &pool.batch(&sup[..b]));
            return;
        }
        be.joint_sample(&self.idx, &self.a, &self.sums, self.bsz, b, self.select.chunks, self.method.joint(), self.seed as u32, step as u32);
        if self.method.reuses_scoring_forward() {
            return; // `train` gathers the chosen rows of every activation, inputs included
        }
        let flexi = self.method.flexi();
        if flexi {
            // a fresh random order of the chosen b each step: the last n_low train at low resolution
            let mut order: Vec<u32> = (0..b as u32).collect();
            crate::data::SplitMix64::new(self.seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).shuffle(&mut order);
            be.write_u32(&self.perm, &order);
            be.gather_rows(&self.chosen_perm, &self.idx, &self.perm, b, 1);
        }
        let idx = self.training_rows();
        let (ws_big, ws_small) = (model.ws_at(self.bsz, flexi), model.ws(b));
        be.gather_rows(&ws_small.image.input, &ws_big.image.input, idx, b, self.px);
        be.gather_rows(&ws_small.text.input, &ws_big.text.input, idx, b, self.text_len);
        be.gather_rows(&ws_small.text.lens, &ws_big.text.lens, idx, b, 1);
    }

    /// After `choose`: the super-batch positions of the training batch's rows [b], in training
    /// order — the chosen in draw order, or for Flexi-JEST in that step's random order.
    pub fn training_rows(&self) -> &B::Buf {
        if self.method.flexi() {
            &self.chosen_perm
        } else {
            &self.idx
        }
    }

    /// Training phase: forward/backward on the chosen b and one AdamW step.
    pub fn train(&self, be: &B, model: &mut DualEncoder<B>, hp: &AdamHp) {
        if self.method.flexi() {
            model.forward_mixed(be, self.b, self.n_low, Some((self.bsz, self.training_rows())));
            model.backward_mixed(be, self.b, self.n_low);
        } else if self.method.reuses_scoring_forward() {
            model.forward_gathered(be, self.bsz, self.training_rows(), self.b);
            model.backward(be, self.b);
        } else {
            model.forward(be, self.b);
            model.backward(be, self.b);
        }
        model.optimizer_step(be, hp);
    }
}
