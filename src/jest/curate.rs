//! Offline curation (`jest-wgpu select`): score a pool with a frozen reference (and, optionally,
//! a learner checkpoint for learnability), then run the joint sampler over successive
//! super-batches and keep a fraction of each — what JEST would feed a learner, exported.

use std::path::Path;

use anyhow::{bail, Result};
use serde::Serialize;

use super::method::SelectConfig;
use crate::backend::{Backend, ScoreMode};
use crate::batch::{epoch_order, Encoded};
use crate::data::{Dataset, Tokenizer};
use crate::train::{load_model, model_spec};

/// One kept example.
#[derive(Clone, Debug, Serialize)]
pub struct Kept {
    /// index in the input dataset
    pub index: usize,
    /// the item's key (file name or builtin id)
    pub key: String,
    pub caption: String,
    /// super-batch it was drawn from, and the sampler's chunk within it (0-based)
    pub super_batch: usize,
    pub chunk: usize,
    /// position in the draw order of its super-batch
    pub rank: usize,
    /// its own score A_ii / gain (−L_ref,ii for easy-ref; L_learner − L_ref for learnability)
    pub score: f32,
    /// its joint contribution Σ_{j∈S} (A_ij + A_ji) / gain within the kept sub-batch
    pub joint_score: f32,
    pub noise: String,
}

pub struct CurateOptions<'a> {
    pub reference: &'a Path,
    pub learner: Option<&'a Path>,
    /// fraction kept, 1 − f
    pub keep: f64,
    pub super_batch: usize,
    pub chunks: usize,
    pub score_gain: f32,
    pub seed: u64,
}

/// Image and text embeddings [n, d] each, the logit scale and bias [2], and d.
type Embeddings = (Vec<f32>, Vec<f32>, Vec<f32>, usize);

/// The `role` model's (reference or learner) embeddings of every item; a diverged checkpoint
/// (NaN/inf out) is an error, not a selection of NaN scores.
fn embeddings<B: Backend>(be: &B, role: &str, path: &Path, data: &Dataset, tok: &Tokenizer) -> Result<Embeddings> {
    let (mut m, spec) = load_model(be, path)?;
    let enc = Encoded::new(data, tok, spec.preset.model.text_len);
    let (u, v, tb) = super::cache::embed_checked(be, &mut m, &enc, role, path)?;
    Ok((u, v, tb, spec.preset.model.embed_dim))
}

/// Examples kept of a super-batch of `bsz`: keep·bsz, rounded down to a whole number of chunks.
pub fn kept_per_super_batch(bsz: usize, keep: f64, chunks: usize) -> usize {
    ((bsz as f64 * keep).round() as usize / chunks.max(1)) * chunks.max(1)
}

/// Score and select; returns the kept examples in draw order, super-batch by super-batch.
pub fn curate<B: Backend>(be: &B, data: &Dataset, tok: &Tokenizer, o: &CurateOptions) -> Result<Vec<Kept>> {
    if !(o.keep > 0.0 && o.keep <= 1.0) {
        bail!("--keep must be a fraction in (0, 1] (got {})", o.keep);
    }
    if o.chunks == 0 {
        bail!("--chunks must be at least 1: the sampler draws each super-batch's kept examples in that many chunks");
    }
    let bsz = o.super_batch.min(data.len());
    let b = kept_per_super_batch(bsz, o.keep, o.chunks);
    if b == 0 {
        bail!("keeping {} of a super-batch of {bsz} leaves less than one chunk of {}; raise --keep or --super-batch", o.keep, o.chunks);
    }
    SelectConfig::new(1.0 - b as f64 / bsz as f64, o.chunks, o.score_gain).super_batch(b)?;
    if let Some(l) = o.learner {
        // before any embedding: a learner of another preset cannot be scored with the reference
        super::cache::check_fits(l, "learner", &model_spec(o.reference)?.preset)?;
    }
    // the score matrix is the one buffer that grows with the super-batch: refused before embedding
    let need = 4 * (bsz as u64).pow(2);
    if need > be.max_buffer_bytes() {
        bail!(
            "--super-batch {bsz} needs a {:.1} MiB score matrix but {} allows at most {:.1} MiB per buffer; lower --super-batch",
            need as f64 / 1048576.0,
            be.adapter_name(),
            be.max_buffer_bytes() as f64 / 1048576.0
        );
    }
    let (ur, vr, tbr, d) = embeddings(be, "reference", o.reference, data, tok)?;
    let (ul, vl, tbl, mode) = match o.learner {
        Some(p) => {
            // same width as the reference's: check_fits refused any other above
            let (u, v, tb, _) = embeddings(be, "learner", p, data, tok)?;
            (u, v, tb, ScoreMode::Learnability)
        }
        None => (ur.clone(), vr.clone(), tbr.clone(), ScoreMode::EasyRef),
    };
    let order = epoch_order(data.len(), o.seed, 0);
    let gather = |x: &[f32], idx: &[usize]| idx.iter().flat_map(|&i| x[i * d..(i + 1) * d].iter().copied()).collect::<Vec<f32>>();
    let (a, sums, idx_buf) = (be.zeros(bsz * bsz), be.zeros(2 * bsz), be.zeros(b));
    let (tb_l, tb_r) = (be.upload(&tbl), be.upload(&tbr));
    let mut kept = Vec::new();
    for (s, sup) in order.chunks(bsz).enumerate() {
        if sup.len() < bsz {
            break; // the remainder is smaller than a super-batch
        }
        let bufs = [gather(&ul, sup), gather(&vl, sup), gather(&ur, sup), gather(&vr, sup)].map(|v| be.upload(&v));
        be.score_matrix(&a, &bufs[0], &bufs[1], &tb_l, &bufs[2], &bufs[3], &tb_r, bsz, d, mode, o.score_gain);
        be.joint_sample(&idx_buf, &a, &sums, bsz, b, o.chunks, true, o.seed as u32, s as u32);
        let (av, chosen) = (be.read(&a)?, be.read_u32(&idx_buf)?);
        let m = b / o.chunks;
        for (rank, &c) in chosen.iter().enumerate() {
            let c = c as usize;
            let joint: f32 = chosen.iter().map(|&j| av[c * bsz + j as usize] + av[j as usize * bsz + c]).sum();
            let i = sup[c];
            kept.push(Kept {
                index: i,
                key: data.key.get(i).cloned().unwrap_or_else(|| i.to_string()),
                caption: data.captions[i].clone(),
                super_batch: s,
                chunk: rank / m,
                rank,
                score: av[c * bsz + c] / o.score_gain,
                joint_score: joint / o.score_gain,
                noise: data.noise[i].as_str().to_string(),
            });
        }
    }
    if kept.is_empty() {
        bail!("{} has {} items, fewer than one super-batch of {}; lower --super-batch", data.name, data.len(), o.super_batch);
    }
    Ok(kept)
}
