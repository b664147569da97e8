//! Twins of `shaders/scores.wgsl`, `shaders/sampler.wgsl` and `shaders/gather.wgsl`: the JEST
//! score matrix, joint example selection (bit-identical draws to the GPU) and the row gather.

use rayon::prelude::*;

use super::loss::softplus;
use super::matmul::matmul_fast;
use super::rng::gumbel;
use super::Real;
use crate::backend::ScoreMode;

/// A_ij from the two per-pair losses: gain·(L_l − L_r) | −gain·L_r | gain·L_l.
fn combine<T: Real>(ll: T, lr: T, mode: ScoreMode, gain: T) -> T {
    gain * match mode {
        ScoreMode::Learnability => ll - lr,
        ScoreMode::EasyRef => -lr,
        ScoreMode::HardLearner => ll,
    }
}

/// L = softplus(−z·(exp(t′)·s + β)) with z = +1 on the diagonal, −1 off it; `et` = exp(t′).
fn pair_loss<T: Real>(s: T, et: T, beta: T, diag: bool) -> T {
    let z = if diag { T::one() } else { -T::one() };
    softplus(-z * (et * s + beta))
}

/// Readable reference (f32 or f64): A [B,B], A_ij = gain·(L_l,ij − L_r,ij) (per `mode`),
/// L_ij = softplus(−z_ij·(exp(t′)·u_i·v_j + β)). u_l, v_l, u_r, v_r [B,d]; tb_l, tb_r [2] = (t′, β).
#[allow(clippy::too_many_arguments)]
pub fn score_matrix_ref<T: Real>(
    a: &mut [T],
    u_l: &[T],
    v_l: &[T],
    tb_l: &[T],
    u_r: &[T],
    v_r: &[T],
    tb_r: &[T],
    bsz: usize,
    d: usize,
    mode: ScoreMode,
    gain: T,
) {
    let (etl, etr) = (tb_l[0].exp(), tb_r[0].exp());
    for i in 0..bsz {
        for j in 0..bsz {
            let mut sl = T::zero();
            let mut sr = T::zero();
            for k in 0..d {
                sl = sl + u_l[i * d + k] * v_l[j * d + k];
                sr = sr + u_r[i * d + k] * v_r[j * d + k];
            }
            let ll = pair_loss(sl, etl, tb_l[1], i == j);
            let lr = pair_loss(sr, etr, tb_r[1], i == j);
            a[i * bsz + j] = combine(ll, lr, mode, gain);
        }
    }
}

/// The CPU backend's score matrix (same contract as `score_matrix_ref`, f32): the similarity
/// matrices S = U·Vᵀ [B,B] by `matmul_fast` into temporaries (only those the mode needs), then
/// one parallel elementwise pass.
#[allow(clippy::too_many_arguments)]
pub fn score_matrix(
    a: &mut [f32],
    u_l: &[f32],
    v_l: &[f32],
    tb_l: &[f32],
    u_r: &[f32],
    v_r: &[f32],
    tb_r: &[f32],
    bsz: usize,
    d: usize,
    mode: ScoreMode,
    gain: f32,
) {
    let n = bsz * bsz;
    if n == 0 {
        return;
    }
    let sims = |u: &[f32], v: &[f32]| {
        let mut s = vec![0f32; n];
        matmul_fast(&mut s, u, v, None, bsz, d, bsz, false, true, false);
        s
    };
    let sl = if mode != ScoreMode::EasyRef { sims(u_l, v_l) } else { Vec::new() };
    let sr = if mode != ScoreMode::HardLearner { sims(u_r, v_r) } else { Vec::new() };
    let (etl, bl) = (tb_l[0].exp(), tb_l[1]);
    let (etr, br) = (tb_r[0].exp(), tb_r[1]);
    a[..n].par_chunks_mut(bsz).enumerate().for_each(|(i, row)| {
        for (j, out) in row.iter_mut().enumerate() {
            let k = i * bsz + j;
            let ll = if sl.is_empty() { 0.0 } else { pair_loss(sl[k], etl, bl, i == j) };
            let lr = if sr.is_empty() { 0.0 } else { pair_loss(sr[k], etr, br, i == j) };
            *out = combine(ll, lr, mode, gain);
        }
    });
}

/// (k1, i1) beats (k2, i2): larger key, ties → lower index; a missing candidate loses.
fn better(k1: f32, i1: Option<usize>, k2: f32, i2: Option<usize>) -> bool {
    match (i1, i2) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(a), Some(b)) => k1 > k2 || (k1 == k2 && a < b),
    }
}

/// Counter streams of the sampler's noise per step: chunk n of step s draws from stream
/// s·1024 + n (`shaders/sampler.wgsl` the same), so a step has at most 1024 chunks.
pub const STREAMS_PER_STEP: u32 = 1024;

/// Joint example selection over A [B,B] (twin of `sampler.wgsl`, identical draws):
/// m = b/chunks; for chunk n, every not-yet-chosen c gets
/// key_c = s_c + gumbel(seed, step·1024 + n, c) with s_c = A[c,c] + sums[c] (joint) or A[c,c];
/// the m largest keys are taken one at a time (ties → lowest index) into out [b] in draw order;
/// after each chosen k (joint, not in the last chunk) sums[c] = sums[c] + (A[k,c] + A[c,k]).
/// sums [≥ B] receives the running sums (the GPU also keeps keys/flags in sums[B..2B]).
#[allow(clippy::too_many_arguments)]
pub fn joint_sample(
    out: &mut [u32],
    a: &[f32],
    sums: &mut [f32],
    bsz: usize,
    b: usize,
    chunks: usize,
    joint: bool,
    seed: u32,
    step: u32,
) {
    assert!(chunks > 0 && b.is_multiple_of(chunks), "joint_sample: b = {b} is not a multiple of chunks = {chunks}");
    assert!(b <= bsz, "joint_sample: b = {b} exceeds the super-batch B = {bsz}");
    let m = b / chunks;
    let sums = &mut sums[..bsz];
    sums.fill(0.0);
    let mut selected = vec![false; bsz];
    let mut keys = vec![0f32; bsz];
    for n in 0..chunks {
        let stream = step.wrapping_mul(STREAMS_PER_STEP).wrapping_add(n as u32);
        for c in 0..bsz {
            if selected[c] {
                continue;
            }
            let mut s = a[c * bsz + c];
            if joint {
                s += sums[c];
            }
            keys[c] = s + gumbel(seed, stream, c as u32);
        }
        for t in 0..m {
            let (mut best_k, mut best_i) = (0f32, None);
            for c in 0..bsz {
                if !selected[c] && better(keys[c], Some(c), best_k, best_i) {
                    best_k = keys[c];
                    best_i = Some(c);
                }
            }
            let k = best_i.expect("joint_sample: b ≤ B leaves a candidate");
            selected[k] = true;
            out[n * m + t] = k as u32;
            if joint && n + 1 < chunks {
                for (c, s) in sums.iter_mut().enumerate() {
                    *s += a[k * bsz + c] + a[c * bsz + k];
                }
            }
        }
    }
}

/// out[k, :] = src[idx[k], :]     src [_, width], idx [rows], out [rows, width]
pub fn gather_rows<T: Copy>(out: &mut [T], src: &[T], idx: &[u32], rows: usize, width: usize) {
    for k in 0..rows {
        let r = idx[k] as usize;
        out[k * width..(k + 1) * width].copy_from_slice(&src[r * width..(r + 1) * width]);
    }
}
