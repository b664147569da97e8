//! The CPU backend's attention: the same math as the `attention` twin (and the WGSL kernel),
//! f32, with each head's q, k, v gathered into contiguous arrays — k (forward) and v (backward)
//! transposed to [hd, t], so one query's dot products with all keys are summed side by side and
//! vectorise, each still in the twin's order; a row's softmax takes its exps together (`expf`).
//! Tested against the twin.

use rayon::prelude::*;

use super::attention::seq_len;
use super::expf;

fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yv, xv) in y.iter_mut().zip(x) {
        *yv += a * xv;
    }
}

/// out[d] = Σ_j w[j]·m[j, d] over j < w.len(), m [·, hd] with hd = out.len(): the twin's sums
/// (0 + w₀m₀ + w₁m₁ + …, in j order), kept in registers when hd is one of the usual widths.
fn weighted_rows(out: &mut [f32], w: &[f32], m: &[f32]) {
    fn fixed<const H: usize>(out: &mut [f32], w: &[f32], m: &[f32]) {
        let mut acc = [0f32; H];
        for (&wj, mj) in w.iter().zip(m.chunks_exact(H)) {
            for (a, &x) in acc.iter_mut().zip(mj) {
                *a += wj * x;
            }
        }
        out.copy_from_slice(&acc);
    }
    match out.len() {
        8 => fixed::<8>(out, w, m),
        16 => fixed::<16>(out, w, m),
        32 => fixed::<32>(out, w, m),
        64 => fixed::<64>(out, w, m),
        hd => {
            out.fill(0.0);
            for (j, &wj) in w.iter().enumerate() {
                axpy(out, wj, &m[j * hd..(j + 1) * hd]);
            }
        }
    }
}

/// The largest of xs (−∞ if empty), 16 running maxima side by side: max is exact, so the
/// order does not change the value.
fn max_of(xs: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let mut blocks = xs.chunks_exact(16);
    for b in &mut blocks {
        for (l, &x) in lanes.iter_mut().zip(b) {
            *l = l.max(x);
        }
    }
    blocks.remainder().iter().chain(&lanes).fold(f32::NEG_INFINITY, |m, &x| m.max(x))
}

/// Copy head h's part `part` (0 q, 1 k, 2 v) of qkv [t, 3c] into dst [t, hd].
fn gather(dst: &mut [f32], x: &[f32], part: usize, h: usize, t: usize, c: usize, hd: usize) {
    for i in 0..t {
        let src = i * 3 * c + part * c + h * hd;
        dst[i * hd..(i + 1) * hd].copy_from_slice(&x[src..src + hd]);
    }
}

/// The same, transposed: dst [hd, t], dst[d·t + i] = x[i, part·c + h·hd + d].
fn gather_t(dst: &mut [f32], x: &[f32], part: usize, h: usize, t: usize, c: usize, hd: usize) {
    for i in 0..t {
        let src = i * 3 * c + part * c + h * hd;
        for (d, &xv) in x[src..src + hd].iter().enumerate() {
            dst[d * t + i] = xv;
        }
    }
}

/// out[j] = Σ_d u[d]·mt[d, j] for j < out.len(), mt [hd, t]: each sum taken in the order
/// d = 0, 1, …, as the twin's dot product does, but all j at once so the adds vectorise.
fn dots(out: &mut [f32], u: &[f32], mt: &[f32], t: usize) {
    let len = out.len();
    out.fill(0.0);
    for (d, &ud) in u.iter().enumerate() {
        for (o, &m) in out.iter_mut().zip(&mt[d * t..d * t + len]) {
            *o += ud * m;
        }
    }
}

/// See `Backend::attention_fwd`.
#[allow(clippy::too_many_arguments)]
pub fn attention_fwd(out: &mut [f32], att: &mut [f32], qkv: &[f32], lens: &[u32], n: usize, t: usize, c: usize, heads: usize) {
    let hd = c / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    out[..n * t * c].par_chunks_mut(t * c).zip(att[..n * heads * t * t].par_chunks_mut(heads * t * t)).enumerate().for_each(
        |(b, (out_b, att_b))| {
            let x = &qkv[b * t * 3 * c..(b + 1) * t * 3 * c];
            let len = seq_len(lens[b], t);
            let (mut q, mut kt, mut v, mut o) = (vec![0.0; t * hd], vec![0.0; hd * t], vec![0.0; t * hd], vec![0.0; hd]);
            for h in 0..heads {
                gather(&mut q, x, 0, h, t, c, hd);
                gather_t(&mut kt, x, 1, h, t, c, hd);
                gather(&mut v, x, 2, h, t, c, hd);
                for i in 0..t {
                    let row = &mut att_b[(h * t + i) * t..(h * t + i + 1) * t];
                    dots(&mut row[..len], &q[i * hd..(i + 1) * hd], &kt, t);
                    row[..len].iter_mut().for_each(|r| *r *= scale);
                    let mx = max_of(&row[..len]);
                    row[..len].iter_mut().for_each(|r| *r -= mx);
                    expf::exp_in_place(&mut row[..len]);
                    let sum = row[..len].iter().fold(0.0, |s, r| s + r);
                    let inv = 1.0 / sum;
                    row[..len].iter_mut().for_each(|r| *r *= inv);
                    row[len..].iter_mut().for_each(|r| *r = 0.0);
                    weighted_rows(&mut o, &row[..len], &v);
                    out_b[i * c + h * hd..i * c + (h + 1) * hd].copy_from_slice(&o);
                }
            }
        },
    );
}

/// See `Backend::attention_bwd` (dqkv accumulates; datt = ∂ℓ/∂scores before scaling).
#[allow(clippy::too_many_arguments)]
pub fn attention_bwd(dqkv: &mut [f32], datt: &mut [f32], dout: &[f32], qkv: &[f32], att: &[f32], lens: &[u32], n: usize, t: usize, c: usize, heads: usize) {
    let hd = c / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let c3 = 3 * c;
    dqkv[..n * t * c3].par_chunks_mut(t * c3).zip(datt[..n * heads * t * t].par_chunks_mut(heads * t * t)).enumerate().for_each(
        |(b, (dx, datt_b))| {
            let x = &qkv[b * t * c3..(b + 1) * t * c3];
            let att_b = &att[b * heads * t * t..(b + 1) * heads * t * t];
            let len = seq_len(lens[b], t);
            let z = || vec![0f32; t * hd];
            let (mut q, mut k, mut vt, mut dy) = (z(), z(), z(), z());
            let (mut dq, mut dk, mut dv) = (z(), z(), z());
            for h in 0..heads {
                gather(&mut q, x, 0, h, t, c, hd);
                gather(&mut k, x, 1, h, t, c, hd);
                gather_t(&mut vt, x, 2, h, t, c, hd);
                for i in 0..t {
                    let src = (b * t + i) * c + h * hd;
                    dy[i * hd..(i + 1) * hd].copy_from_slice(&dout[src..src + hd]);
                }
                dk.fill(0.0); // dq's rows are each written whole below
                dv.fill(0.0);
                for i in 0..t {
                    let a = &att_b[(h * t + i) * t..(h * t + i + 1) * t];
                    let g = &mut datt_b[(h * t + i) * t..(h * t + i + 1) * t];
                    let dyi = &dy[i * hd..(i + 1) * hd];
                    dots(&mut g[..len], dyi, &vt, t);
                    let mut s = 0.0;
                    for j in 0..len {
                        s += a[j] * g[j];
                    }
                    for j in 0..len {
                        g[j] = a[j] * (g[j] - s);
                        axpy(&mut dk[j * hd..(j + 1) * hd], g[j], &q[i * hd..(i + 1) * hd]);
                        axpy(&mut dv[j * hd..(j + 1) * hd], a[j], dyi);
                    }
                    weighted_rows(&mut dq[i * hd..(i + 1) * hd], &g[..len], &k);
                    g[len..].iter_mut().for_each(|x| *x = 0.0);
                }
                for i in 0..t {
                    // the twin's order: dq and dk summed, then scaled
                    for (part, d, sc) in [(0, &dq, scale), (1, &dk, scale), (2, &dv, 1.0)] {
                        let off = i * c3 + part * c + h * hd;
                        for (o, s) in dx[off..off + hd].iter_mut().zip(&d[i * hd..(i + 1) * hd]) {
                            *o += sc * s;
                        }
                    }
                }
            }
        },
    );
}
