//! Reference embeddings of every pool item, computed once after reference training and stored
//! beside the reference checkpoint (`<ref>.pool-emb.safetensors`); recomputed when the
//! checkpoint or the pool changes (the checkpoint's SHA-256 and the pool's name, size and a
//! SHA-256 of its images and tokens are recorded), or when the file is malformed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};

use crate::backend::Backend;
use crate::batch::Encoded;
use crate::eval::embed_all;
use crate::model::params::{load_safetensors, save_safetensors};
use crate::model::DualEncoder;
use crate::config::Preset;
use crate::train::{load_model, model_spec};

/// The frozen reference's view of the pool.
#[derive(Debug)]
pub struct RefCache {
    /// image embeddings [n, d]
    pub u: Vec<f32>,
    /// text embeddings [n, d]
    pub v: Vec<f32>,
    pub d: usize,
    /// the reference's (t′, β)
    pub t_bias: [f32; 2],
    pub n: usize,
}

impl RefCache {
    /// Rows `idx` of (u, v), concatenated: ([k, d], [k, d]).
    pub fn rows(&self, idx: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let d = self.d;
        let mut u = Vec::with_capacity(idx.len() * d);
        let mut v = Vec::with_capacity(idx.len() * d);
        for &i in idx {
            u.extend_from_slice(&self.u[i * d..(i + 1) * d]);
            v.extend_from_slice(&self.v[i * d..(i + 1) * d]);
        }
        (u, v)
    }
}

/// A frozen model's (`role`, read from `path`) image and text embeddings of every item [n, D]
/// each, and its logit scale and bias [2]; a diverged checkpoint (NaN/inf out) is an error.
pub(crate) fn embed_checked<B: Backend>(be: &B, model: &mut DualEncoder<B>, data: &Encoded, role: &str, path: &Path) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    let (u, v) = embed_all(be, model, data)?;
    let tb = be.read(&model.params.get(model.t_bias).value)?;
    if !u.iter().chain(&v).chain(&tb).all(|x| x.is_finite()) {
        bail!("the {role} {} gives non-finite embeddings or temperature (NaN/inf): the checkpoint is diverged; train the {role} again", path.display());
    }
    Ok((u, v, tb))
}

pub fn cache_path(reference: &Path) -> PathBuf {
    reference.with_extension("pool-emb.safetensors")
}

pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let bytes = crate::util::read_input_file(path, "reference checkpoint")?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// SHA-256 of what the reference embeds: every image byte, token and caption length.
pub fn pool_sha256(pool: &Encoded) -> String {
    let mut h = Sha256::new();
    h.update(&pool.data.images);
    h.update(bytemuck::cast_slice::<u32, u8>(&pool.tokens));
    h.update(bytemuck::cast_slice::<u32, u8>(&pool.lens));
    format!("{:x}", h.finalize())
}

/// Load the cache if it belongs to this reference and pool, else compute and store it. Also
/// returns the reference file's SHA-256 (hashed here, once, for callers that record it).
pub fn reference_embeddings<B: Backend>(be: &B, reference: &Path, learner: &Preset, pool: &Encoded, pool_name: &str) -> Result<(RefCache, String)> {
    check_fits(reference, "reference", learner)?;
    let sha = sha256_file(reference)?;
    let pool_sha = pool_sha256(pool);
    let path = cache_path(reference);
    if path.exists() {
        match load_cache(&path, &sha, pool_name, &pool_sha, pool.len()) {
            Ok(c) => return Ok((c, sha)),
            Err(e) => eprintln!("recomputing the reference embeddings: {e:#}"),
        }
    }
    let (mut model, spec) = load_model(be, reference)?;
    if spec.preset.model.text_len != pool.text_len {
        bail!("reference {} reads {} text tokens but the learner {}; train both with the same preset", reference.display(), spec.preset.model.text_len, pool.text_len);
    }
    eprintln!("embedding the pool ({} items) with the reference model once…", pool.len());
    let (u, v, tb) = embed_checked(be, &mut model, pool, "reference", reference)?;
    let d = spec.preset.model.embed_dim;
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "jest-wgpu-ref-embeddings-1".to_string());
    meta.insert("reference_sha256".to_string(), sha.clone());
    meta.insert("data".to_string(), pool_name.to_string());
    meta.insert("pool_sha256".to_string(), pool_sha);
    let n = pool.len();
    let tensors = [("u".into(), vec![n, d], u), ("v".into(), vec![n, d], v), ("t_bias".into(), vec![2], tb)];
    // the cache only saves time: a folder it cannot be written to costs a recomputation next run
    if let Err(e) = save_safetensors(&path, &tensors, meta) {
        eprintln!("warning: the reference embeddings are not cached ({e:#}); the next run computes them again");
    }
    let [(_, _, u), (_, _, v), (_, _, tb)] = tensors;
    Ok((RefCache { u, v, d, t_bias: [tb[0], tb[1]], n }, sha))
}

/// Refuse, before any work, a model (`what`: "reference" or "learner") whose embeddings cannot
/// be scored with those of a `preset` model: another embedding width or caption length.
pub fn check_fits(model: &Path, what: &str, preset: &Preset) -> Result<()> {
    let spec = model_spec(model)?;
    let (m, p) = (&spec.preset.model, &preset.model);
    if m.embed_dim != p.embed_dim || m.text_len != p.text_len {
        bail!(
            "the {what} {} is a `{}` model ({}-dimensional embeddings, {} text tokens) but the run needs `{}` ({}, {}): use models of the same preset ({} --preset {})",
            model.display(), spec.preset.name, m.embed_dim, m.text_len, preset.name, p.embed_dim, p.text_len,
            if what == "reference" { "train-reference" } else { "train" }, preset.name
        );
    }
    Ok(())
}

/// Read a cache, refusing one made from another checkpoint or pool, or one that is malformed.
pub fn load_cache(path: &Path, reference_sha256: &str, pool_name: &str, pool_sha256: &str, n: usize) -> Result<RefCache> {
    let (t, meta) = load_safetensors(path)?;
    let got = meta.get("reference_sha256").map(String::as_str).unwrap_or("");
    if got != reference_sha256 {
        bail!("{} was computed from another reference checkpoint (sha256 {got:.12}…, expected {reference_sha256:.12}…)", path.display());
    }
    let data = meta.get("data").map(String::as_str).unwrap_or("");
    let (Some((us, u)), Some((vs, v)), Some((ts, tb))) = (t.get("u"), t.get("v"), t.get("t_bias")) else {
        bail!("{} lacks u, v or t_bias", path.display());
    };
    // the contents decide, not the name: `../ud` and `/abs/ud` are the same pool
    if us.first() != Some(&n) || meta.get("pool_sha256").map(String::as_str) != Some(pool_sha256) {
        bail!("{} holds embeddings of `{data}` ({} items) as it was then, not `{pool_name}` ({n} items) as it is now", path.display(), us.first().unwrap_or(&0));
    }
    let d = us.get(1).copied().unwrap_or(0);
    if us.len() != 2 || d == 0 || vs != us || u.len() != n * d || v.len() != n * d || ts.as_slice() != [2] || tb.len() != 2 {
        bail!("{} is malformed: u {us:?}, v {vs:?}, t_bias {ts:?} (expected [{n}, d], [{n}, d], [2])", path.display());
    }
    if !u.iter().chain(v).chain(tb).all(|x| x.is_finite()) {
        bail!("{} holds non-finite values (NaN/inf)", path.display());
    }
    Ok(RefCache { u: u.clone(), v: v.clone(), d, t_bias: [tb[0], tb[1]], n })
}
