//! Turning a `Dataset` into model inputs: captions tokenised once, images normalised to
//! [-1, 1], and the stateless epoch order that makes `--resume` exact.

use rayon::prelude::*;

use crate::data::{Dataset, SplitMix64, Tokenizer};
use crate::model::HostBatch;

/// A dataset with its captions tokenised for a model's text length.
pub struct Encoded<'a> {
    pub data: &'a Dataset,
    pub text_len: usize,
    /// [n, text_len], padded with the pad id
    pub tokens: Vec<u32>,
    pub lens: Vec<u32>,
}

impl<'a> Encoded<'a> {
    pub fn new(data: &'a Dataset, tok: &Tokenizer, text_len: usize) -> Encoded<'a> {
        let n = data.len();
        let mut tokens = vec![tok.pad_id(); n * text_len];
        let mut lens = vec![0u32; n];
        for (i, cap) in data.captions.iter().enumerate() {
            let ids = tok.encode(cap, text_len);
            let len = ids.len().clamp(1, text_len);
            tokens[i * text_len..i * text_len + len].copy_from_slice(&ids[..len]);
            lens[i] = len as u32;
        }
        Encoded { data, text_len, tokens, lens }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.len() == 0
    }

    /// Gather items `idx` into a host batch.
    pub fn batch(&self, idx: &[usize]) -> HostBatch {
        let s = self.data.image_size;
        let px = s * s * 3;
        let l = self.text_len;
        let mut b = HostBatch { n: idx.len(), images: vec![0.0; idx.len() * px], tokens: vec![0; idx.len() * l], lens: vec![0; idx.len()] };
        b.images.par_chunks_mut(px).zip(idx.par_iter()).for_each(|(dst, &i)| {
            for (d, &src) in dst.iter_mut().zip(self.data.image(i)) {
                *d = src as f32 / 127.5 - 1.0;
            }
        });
        for (k, &i) in idx.iter().enumerate() {
            b.tokens[k * l..(k + 1) * l].copy_from_slice(&self.tokens[i * l..(i + 1) * l]);
            b.lens[k] = self.lens[i];
        }
        b
    }
}

/// A fresh permutation of 0..n for (seed, epoch): Fisher–Yates driven by SplitMix64.
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed ^ epoch.wrapping_mul(0xD1B5_4A32_D192_ED03).wrapping_add(0x5851_F42D_4C95_7F2D));
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// The `count` examples drawn at 0-based `step` when every step draws `count`: epochs of
/// shuffled passes, a pure function of (seed, step) so a resumed run sees the same data.
pub fn step_indices(n: usize, count: usize, seed: u64, step: u64) -> Vec<usize> {
    let mut out = Vec::with_capacity(count);
    let mut pos = step * count as u64;
    let mut cached: Option<(u64, Vec<usize>)> = None;
    while out.len() < count {
        let epoch = pos / n as u64;
        if cached.as_ref().map(|c| c.0) != Some(epoch) {
            cached = Some((epoch, epoch_order(n, seed, epoch)));
        }
        out.push(cached.as_ref().unwrap().1[(pos % n as u64) as usize]);
        pos += 1;
    }
    out
}
