//! Reference embeddings of every pool item, computed once after reference training and stored
//! beside the reference checkpoint (`<ref>.pool-emb.safetensors`); recomputed when the
//! checkpoint or the pool changes (its SHA-256 and the pool's name and size are recorded).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::backend::Backend;
use crate::batch::Encoded;
use crate::eval::embed_all;
use crate::model::params::{load_safetensors, save_safetensors};
use crate::train::load_model;

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

pub fn cache_path(reference: &Path) -> PathBuf {
    reference.with_extension("pool-emb.safetensors")
}

pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read reference checkpoint {}", path.display()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// Load the cache if it belongs to this reference and pool, else compute and store it. Also
/// returns the reference file's SHA-256 (hashed here, once, for callers that record it).
pub fn reference_embeddings<B: Backend>(be: &B, reference: &Path, pool: &Encoded, pool_name: &str) -> Result<(RefCache, String)> {
    let sha = sha256_file(reference)?;
    let path = cache_path(reference);
    if path.exists() {
        match load_cache(&path, &sha, pool_name, pool.len()) {
            Ok(c) => return Ok((c, sha)),
            Err(e) => eprintln!("recomputing the reference embeddings: {e:#}"),
        }
    }
    let (mut model, spec) = load_model(be, reference)?;
    if spec.preset.model.text_len != pool.text_len {
        bail!("reference {} reads {} text tokens but the learner {}; train both with the same preset", reference.display(), spec.preset.model.text_len, pool.text_len);
    }
    eprintln!("embedding the pool ({} items) with the reference model once…", pool.len());
    let (u, v) = embed_all(be, &mut model, pool)?;
    let tb = be.read(&model.params.get(model.t_bias).value)?;
    let d = spec.preset.model.embed_dim;
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "jest-wgpu-ref-embeddings-1".to_string());
    meta.insert("reference_sha256".to_string(), sha.clone());
    meta.insert("data".to_string(), pool_name.to_string());
    let n = pool.len();
    save_safetensors(&path, &[("u".into(), vec![n, d], u.clone()), ("v".into(), vec![n, d], v.clone()), ("t_bias".into(), vec![2], tb.clone())], meta)?;
    Ok((RefCache { u, v, d, t_bias: [tb[0], tb[1]], n }, sha))
}

/// Read a cache, refusing one made from another checkpoint or pool.
pub fn load_cache(path: &Path, reference_sha256: &str, pool_name: &str, n: usize) -> Result<RefCache> {
    let (t, meta) = load_safetensors(path)?;
    let got = meta.get("reference_sha256").map(String::as_str).unwrap_or("");
    if got != reference_sha256 {
        bail!("{} was computed from another reference checkpoint (sha256 {got:.12}…, expected {reference_sha256:.12}…)", path.display());
    }
    let data = meta.get("data").map(String::as_str).unwrap_or("");
    let (Some((us, u)), Some((_, v)), Some((_, tb))) = (t.get("u"), t.get("v"), t.get("t_bias")) else {
        bail!("{} lacks u, v or t_bias", path.display());
    };
    if data != pool_name || us[0] != n {
        bail!("{} holds embeddings of `{data}` ({} items), not `{pool_name}` ({n} items)", path.display(), us[0]);
    }
    Ok(RefCache { u: u.clone(), v: v.clone(), d: us[1], t_bias: [tb[0], tb[1]], n })
}
