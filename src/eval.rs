//! Held-out evaluation: zero-shot classification and image↔text retrieval R@1/R@5.
//! A retrieval hit is a retrieved item of the same concept (one concept appears in several
//! styles with the same caption, so exact-index matching would punish correct answers).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::batch::Encoded;
use crate::data::Tokenizer;
use crate::model::{DualEncoder, HostBatch};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    pub zero_shot_acc: f64,
    pub i2t_r1: f64,
    pub t2i_r1: f64,
    pub i2t_r5: f64,
    pub t2i_r5: f64,
    /// expected R@1 of random embeddings (mean share of items sharing the query's concept)
    pub chance_r1: f64,
    /// 1 / number of classes
    pub chance_zero_shot: f64,
    pub items: usize,
    /// items with a zero-shot label (0: zero_shot_acc means nothing — user data has none)
    #[serde(default)]
    pub labelled: usize,
}

/// Items per forward pass during evaluation (the last chunk is padded to this size).
pub const EVAL_CHUNK: usize = 128;

/// Embed every item of `data`: (image [n,D], text [n,D]).
#[cfg(not(target_arch = "wasm32"))]
pub fn embed_all<B: Backend>(be: &B, model: &mut DualEncoder<B>, data: &Encoded) -> Result<(Vec<f32>, Vec<f32>)> {
    pollster::block_on(embed_all_async(be, model, data))
}

#[cfg(target_arch = "wasm32")]
pub fn embed_all<B: Backend>(_be: &B, _model: &mut DualEncoder<B>, _data: &Encoded) -> Result<(Vec<f32>, Vec<f32>)> {
    bail!("blocking read-back is not available in the browser; use embed_all_async")
}

/// `embed_all` without blocking (the browser's read-back).
pub async fn embed_all_async<B: Backend>(be: &B, model: &mut DualEncoder<B>, data: &Encoded<'_>) -> Result<(Vec<f32>, Vec<f32>)> {
    let n = data.len();
    let d = model.cfg.embed_dim;
    let (mut u, mut v) = (Vec::with_capacity(n * d), Vec::with_capacity(n * d));
    let chunk = EVAL_CHUNK.min(n.max(1));
    let existed = model.has_workspace(chunk); // e.g. a learner training at b = EVAL_CHUNK
    for (start, idx) in eval_chunks(n) {
        let real = (n - start).min(chunk);
        let (cu, cv) = model.embed_async(be, &data.batch(&idx)).await?;
        u.extend_from_slice(&cu[..real * d]);
        v.extend_from_slice(&cv[..real * d]);
    }
    if !existed {
        model.release_workspace(chunk);
    }
    Ok((u, v))
}

/// The evaluation batches of n items: (first item, indices of a full chunk, the last padded by repeats).
fn eval_chunks(n: usize) -> Vec<(usize, Vec<usize>)> {
    let chunk = EVAL_CHUNK.min(n.max(1));
    (0..n).step_by(chunk).map(|start| (start, (0..chunk).map(|k| (start + k).min(n - 1)).collect())).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Rank of the first hit among candidates sorted by similarity (0 = top; higher similarity
/// first in `total_cmp`'s order, ties by lower index), n if none is a hit: the best-placed hit
/// is found and the candidates placed before it counted, in one pass each instead of a sort.
fn first_hit_rank(query: &[f32], cands: &[f32], d: usize, is_hit: impl Fn(usize) -> bool) -> usize {
    let n = cands.len() / d;
    let scores: Vec<f32> = (0..n).map(|j| dot(query, &cands[j * d..(j + 1) * d])).collect();
    let before = |a: usize, b: usize| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)).is_lt();
    match (0..n).filter(|&j| is_hit(j)).reduce(|best, j| if before(j, best) { j } else { best }) {
        Some(best) => (0..n).filter(|&j| before(j, best)).count(),
        None => n,
    }
}

/// Zero-shot accuracy and retrieval over the whole of `data`.
pub fn evaluate<B: Backend>(be: &B, model: &mut DualEncoder<B>, data: &Encoded, tok: &Tokenizer) -> Result<EvalResult> {
    let n = data.len();
    if n == 0 {
        bail!("the evaluation split is empty");
    }
    let d = model.cfg.embed_dim;
    let (u, v) = embed_all(be, model, data)?;
    if u.iter().chain(&v).any(|x| !x.is_finite()) {
        bail!("the model produced non-finite embeddings (NaN/inf): the checkpoint is diverged");
    }
    let r = retrieval(&u, &v, d, &data.data.concept);

    // zero-shot: each labelled image against one prompt per class
    let (mut correct, mut labelled) = (0usize, 0usize);
    let classes = &data.data.class_names;
    if !classes.is_empty() {
        let l = data.text_len;
        let mut cb = HostBatch { n: classes.len(), images: vec![0.0; classes.len() * data.data.image_size.pow(2) * 3], tokens: vec![tok.pad_id(); classes.len() * l], lens: vec![1; classes.len()] };
        for (k, name) in classes.iter().enumerate() {
            let ids = tok.encode(name, l);
            let len = ids.len().clamp(1, l);
            cb.tokens[k * l..k * l + len].copy_from_slice(&ids[..len]);
            cb.lens[k] = len as u32;
        }
        let existed = model.has_workspace(cb.n);
        let cv = model.embed_text(be, &cb)?;
        if !existed {
            model.release_workspace(cb.n);
        }
        for i in 0..n {
            let lab = data.data.label[i];
            if lab == u32::MAX || lab as usize >= classes.len() {
                continue;
            }
            labelled += 1;
            let ui = &u[i * d..(i + 1) * d];
            let pred = (0..classes.len())
                .max_by(|&a, &b| dot(ui, &cv[a * d..(a + 1) * d]).total_cmp(&dot(ui, &cv[b * d..(b + 1) * d])))
                .unwrap();
            correct += (pred == lab as usize) as usize;
        }
    }
    Ok(EvalResult {
        zero_shot_acc: if labelled > 0 { correct as f64 / labelled as f64 } else { 0.0 },
        chance_zero_shot: if classes.is_empty() { 0.0 } else { 1.0 / classes.len() as f64 },
        labelled,
        ..r
    })
}

/// Image↔text retrieval R@1/R@5 of embeddings u, v [n, D] (a hit shares the query's concept);
/// the other fields are left at zero.
pub fn retrieval(u: &[f32], v: &[f32], d: usize, concept: &[u32]) -> EvalResult {
    let n = concept.len();
    let ranks: Vec<(usize, usize)> = (0..n)
        .map(|i| {
            let i2t = first_hit_rank(&u[i * d..(i + 1) * d], v, d, |j| concept[j] == concept[i]);
            let t2i = first_hit_rank(&v[i * d..(i + 1) * d], u, d, |j| concept[j] == concept[i]);
            (i2t, t2i)
        })
        .collect();
    let share = |k: usize, f: fn(&(usize, usize)) -> usize| ranks.iter().filter(|r| f(r) < k).count() as f64 / n.max(1) as f64;
    let mut same = std::collections::HashMap::new();
    for c in concept {
        *same.entry(c).or_insert(0usize) += 1;
    }
    let chance_r1 = concept.iter().map(|c| same[c] as f64 / n as f64).sum::<f64>() / n.max(1) as f64;
    EvalResult {
        i2t_r1: share(1, |r| r.0),
        t2i_r1: share(1, |r| r.1),
        i2t_r5: share(5, |r| r.0),
        t2i_r5: share(5, |r| r.1),
        chance_r1,
        items: n,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rank as defined: sort every candidate, find the first hit.
    fn rank_by_sorting(query: &[f32], cands: &[f32], d: usize, is_hit: impl Fn(usize) -> bool) -> usize {
        let n = cands.len() / d;
        let mut scores: Vec<(f32, usize)> = (0..n).map(|j| (dot(query, &cands[j * d..(j + 1) * d]), j)).collect();
        scores.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scores.iter().position(|&(_, j)| is_hit(j)).unwrap_or(n)
    }

    /// Equal to sorting on scores with many ties (values from a few levels), ±0, a NaN, and
    /// queries with no hit.
    #[test]
    fn first_hit_rank_equals_sorting() {
        let (n, d) = (203, 3);
        let level = |i: usize| [-1.0f32, -0.0, 0.0, 0.5, 2.0][(i * 7919 + i / 5) % 5];
        let mut cands: Vec<f32> = (0..n * d).map(level).collect();
        cands[17 * d] = f32::NAN;
        let concept: Vec<u32> = (0..n).map(|j| ((j * 31) % 23) as u32).collect();
        for q in 0..n {
            let query = &cands[q * d..(q + 1) * d].to_vec();
            for c in [concept[q], 99] {
                let hit = |j: usize| concept[j] == c;
                assert_eq!(first_hit_rank(query, &cands, d, hit), rank_by_sorting(query, &cands, d, hit), "query {q}, concept {c}");
            }
        }
    }
}
