//! Twin of `shaders/attention.wgsl`: multi-head self-attention core with key masking by length.
//!
//! Layout: qkv [n,t,3c] = (q | k | v), head h uses columns h·hd..(h+1)·hd of each part,
//! hd = c/heads, scale = 1/sqrt(hd). Row b attends to keys j < len_b = clamp(lens[b], 1, t);
//! masked entries of att are 0. Every query row (padded ones included) is computed.

use rayon::prelude::*;

use super::Real;

/// Effective sequence length of a row: at least one key, at most t.
pub fn seq_len(len: u32, t: usize) -> usize {
    (len as usize).clamp(1, t)
}

/// out [n,t,c] = att·v; att [n,heads,t,t] = softmax_j(q_i·k_j·scale) over j < len (0 elsewhere).
/// qkv [n,t,3c], lens u32 [n].
#[allow(clippy::too_many_arguments)]
pub fn attention_fwd<T: Real>(out: &mut [T], att: &mut [T], qkv: &[T], lens: &[u32], n: usize, t: usize, c: usize, heads: usize) {
    assert!(c.is_multiple_of(heads), "attention: c={c} not divisible by heads={heads}");
    let hd = c / heads;
    let scale = T::one() / T::c(hd as f64).sqrt();
    let c3 = 3 * c;
    out[..n * t * c]
        .par_chunks_mut(t * c)
        .zip(att[..n * heads * t * t].par_chunks_mut(heads * t * t))
        .enumerate()
        .for_each(|(b, (out_b, att_b))| {
            let x = &qkv[b * t * c3..(b + 1) * t * c3]; // [t, 3c]
            let len = seq_len(lens[b], t);
            for h in 0..heads {
                for i in 0..t {
                    let q = &x[i * c3 + h * hd..i * c3 + (h + 1) * hd];
                    let row = &mut att_b[(h * t + i) * t..(h * t + i + 1) * t];
                    // scores and their max over the valid keys
                    let mut mx = T::neg_infinity();
                    for j in 0..len {
                        let k = &x[j * c3 + c + h * hd..j * c3 + c + (h + 1) * hd];
                        let s = q.iter().zip(k).fold(T::zero(), |a, (&u, &v)| a + u * v) * scale;
                        row[j] = s;
                        mx = mx.max(s);
                    }
                    let mut sum = T::zero();
                    for r in row.iter_mut().take(len) {
                        *r = (*r - mx).exp();
                        sum = sum + *r;
                    }
                    let inv = T::one() / sum;
                    for (j, r) in row.iter_mut().enumerate() {
                        *r = if j < len { *r * inv } else { T::zero() };
                    }
                    // out_i = Σ_j att_ij v_j
                    for e in 0..hd {
                        let mut acc = T::zero();
                        for (j, &a) in row.iter().enumerate().take(len) {
                            acc = acc + a * x[j * c3 + 2 * c + h * hd + e];
                        }
                        out_b[i * c + h * hd + e] = acc;
                    }
                }
            }
        });
}

/// dqkv [n,t,3c] += ∂ℓ/∂qkv given dout [n,t,c] and the saved att [n,heads,t,t].
/// datt [n,heads,t,t] is overwritten with ∂ℓ/∂scores (before scale):
/// dscore_ij = att_ij (dout_i·v_j − Σ_l att_il dout_i·v_l);
/// dq_i += scale Σ_j dscore_ij k_j; dk_j += scale Σ_i dscore_ij q_i; dv_j += Σ_i att_ij dout_i.
#[allow(clippy::too_many_arguments)]
pub fn attention_bwd<T: Real>(
    dqkv: &mut [T],
    datt: &mut [T],
    dout: &[T],
    qkv: &[T],
    att: &[T],
    lens: &[u32],
    n: usize,
    t: usize,
    c: usize,
    heads: usize,
) {
    assert!(c.is_multiple_of(heads), "attention: c={c} not divisible by heads={heads}");
    let hd = c / heads;
    let scale = T::one() / T::c(hd as f64).sqrt();
    let c3 = 3 * c;
    dqkv[..n * t * c3]
        .par_chunks_mut(t * c3)
        .zip(datt[..n * heads * t * t].par_chunks_mut(heads * t * t))
        .enumerate()
        .for_each(|(b, (dx, datt_b))| {
            let x = &qkv[b * t * c3..(b + 1) * t * c3]; // [t, 3c]
            let dy = &dout[b * t * c..(b + 1) * t * c]; // [t, c]
            let att_b = &att[b * heads * t * t..(b + 1) * heads * t * t]; // [heads, t, t]
            let len = seq_len(lens[b], t);
            for h in 0..heads {
                // pass 1: dscores and dq, one query row at a time
                for i in 0..t {
                    let a = &att_b[(h * t + i) * t..(h * t + i + 1) * t];
                    let g = &mut datt_b[(h * t + i) * t..(h * t + i + 1) * t];
                    let mut dot = T::zero();
                    for j in 0..len {
                        let mut d = T::zero();
                        for e in 0..hd {
                            d = d + dy[i * c + h * hd + e] * x[j * c3 + 2 * c + h * hd + e];
                        }
                        g[j] = d;
                        dot = dot + a[j] * d;
                    }
                    for j in 0..t {
                        g[j] = if j < len { a[j] * (g[j] - dot) } else { T::zero() };
                    }
                    for e in 0..hd {
                        let mut acc = T::zero();
                        for j in 0..len {
                            acc = acc + g[j] * x[j * c3 + c + h * hd + e];
                        }
                        dx[i * c3 + h * hd + e] = dx[i * c3 + h * hd + e] + scale * acc;
                    }
                }
                // pass 2: dk and dv, one key column at a time (masked keys get nothing)
                for j in 0..len {
                    for e in 0..hd {
                        let mut dk = T::zero();
                        let mut dv = T::zero();
                        for i in 0..t {
                            let r = (h * t + i) * t + j;
                            dk = dk + datt_b[r] * x[i * c3 + h * hd + e];
                            dv = dv + att_b[r] * dy[i * c + h * hd + e];
                        }
                        let kk = j * c3 + c + h * hd + e;
                        dx[kk] = dx[kk] + scale * dk;
                        dx[kk + c] = dx[kk + c] + dv;
                    }
                }
            }
        });
}
