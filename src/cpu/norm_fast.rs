//! The CPU backend's LayerNorm: the `norm` twin's math (f32) with every sum in the twin's order,
//! eight rows side by side so their running sums (mean, variance; the backward's Σg and Σg·x̂)
//! are independent chains the CPU overlaps instead of each add waiting on the one before; the
//! weight and bias gradients summed over rows for all columns at once (each column's sum still
//! in row order). Equal to the twin bit for bit (`tests/cpu_fast_paths.rs`).

use rayon::prelude::*;

/// Rows handled together.
const R: usize = 8;
/// Rows·cols at which rows are split across rayon threads (the twin's threshold).
const PAR_MIN: usize = 1 << 14;

/// s[r] = Σ_{c<cols} f(r, c) for N rows, each sum from 0 in c order.
#[inline(always)]
fn sums<const N: usize>(cols: usize, f: impl Fn(usize, usize) -> f32) -> [f32; N] {
    let mut s = [0f32; N];
    for c in 0..cols {
        for (r, s) in s.iter_mut().enumerate() {
            *s += f(r, c);
        }
    }
    s
}

/// LayerNorm of N rows x [N, cols] into out: returns each row's (μ, rstd).
#[inline(always)]
fn fwd_rows<const N: usize>(out: &mut [f32], x: &[f32], w: &[f32], b: &[f32], cols: usize) -> [(f32, f32); N] {
    let n = cols as f32;
    let mu = sums::<N>(cols, |r, c| x[r * cols + c]).map(|s| s / n);
    let var = sums::<N>(cols, |r, c| (x[r * cols + c] - mu[r]) * (x[r * cols + c] - mu[r])).map(|s| s / n);
    let rs = var.map(|v| 1.0 / (v + 1e-5).sqrt());
    for (r, (o, xr)) in out.chunks_exact_mut(cols).zip(x.chunks_exact(cols)).enumerate() {
        for c in 0..cols {
            o[c] = (xr[c] - mu[r]) * rs[r] * w[c] + b[c];
        }
    }
    std::array::from_fn(|r| (mu[r], rs[r]))
}

widest! {
/// See `norm::layernorm_fwd`: out [rows, cols], mean/rstd [rows], x [rows, cols], w/b [cols].
pub fn layernorm_fwd / layernorm_fwd_avx2 / layernorm_fwd_plain(out: &mut [f32], mean: &mut [f32], rstd: &mut [f32], x: &[f32], w: &[f32], b: &[f32], rows: usize, cols: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    // each block of R rows: out, and its rows' (μ, rstd) into st
    let block = |i: usize, o: &mut [f32], st: &mut [(f32, f32)]| {
        let xb = &x[i * R * cols..i * R * cols + o.len()];
        match st.len() {
            R => st.copy_from_slice(&fwd_rows::<R>(o, xb, w, b, cols)),
            _ => {
                for ((o, xr), s) in o.chunks_exact_mut(cols).zip(xb.chunks_exact(cols)).zip(st.iter_mut()) {
                    *s = fwd_rows::<1>(o, xr, w, b, cols)[0];
                }
            }
        }
    };
    let (out, mut stats) = (&mut out[..rows * cols], vec![(0f32, 0f32); rows]);
    if rows * cols >= PAR_MIN {
        out.par_chunks_mut(R * cols).zip(stats.par_chunks_mut(R)).enumerate().for_each(|(i, (o, st))| block(i, o, st));
    } else {
        out.chunks_mut(R * cols).zip(stats.chunks_mut(R)).enumerate().for_each(|(i, (o, st))| block(i, o, st));
    }
    for ((m, s), (mu, rs)) in mean[..rows].iter_mut().zip(&mut rstd[..rows]).zip(stats) {
        (*m, *s) = (mu, rs);
    }
}
}

/// dx += the input gradient of N rows (dx, dy, x [N, cols]; mean, rstd [N]).
#[inline(always)]
fn bwd_rows<const N: usize>(dx: &mut [f32], dy: &[f32], x: &[f32], mean: &[f32], rstd: &[f32], w: &[f32], cols: usize) {
    let n = cols as f32;
    let sg = sums::<N>(cols, |r, c| dy[r * cols + c] * w[c]);
    let sgx = sums::<N>(cols, |r, c| dy[r * cols + c] * w[c] * (x[r * cols + c] - mean[r]) * rstd[r]);
    for (r, d) in dx.chunks_exact_mut(cols).enumerate() {
        let (mu, rs, mg, mgx) = (mean[r], rstd[r], sg[r] / n, sgx[r] / n);
        let (xr, dyr) = (&x[r * cols..(r + 1) * cols], &dy[r * cols..(r + 1) * cols]);
        for c in 0..cols {
            let xh = (xr[c] - mu) * rs;
            d[c] += rs * (dyr[c] * w[c] - mg - xh * mgx);
        }
    }
}

widest! {
/// See `norm::layernorm_bwd`: dx += ∂/∂x, dw += Σ_r dy·x̂, db += Σ_r dy.
pub fn layernorm_bwd / layernorm_bwd_avx2 / layernorm_bwd_plain(dx: &mut [f32], dw: &mut [f32], db: &mut [f32], dy: &[f32], x: &[f32], mean: &[f32], rstd: &[f32], w: &[f32], rows: usize, cols: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    let block = |(i, d): (usize, &mut [f32])| {
        let (r0, nr) = (i * R, d.len() / cols);
        let span = r0 * cols..(r0 + nr) * cols;
        let (dyb, xb, mb, sb) = (&dy[span.clone()], &x[span], &mean[r0..r0 + nr], &rstd[r0..r0 + nr]);
        match nr {
            R => bwd_rows::<R>(d, dyb, xb, mb, sb, w, cols),
            _ => (0..nr).for_each(|r| {
                let row = r * cols..(r + 1) * cols;
                bwd_rows::<1>(&mut d[row.clone()], &dyb[row.clone()], &xb[row], &mb[r..], &sb[r..], w, cols)
            }),
        }
    };
    let dx = &mut dx[..rows * cols];
    if rows * cols >= PAR_MIN {
        dx.par_chunks_mut(R * cols).enumerate().for_each(block);
    } else {
        dx.chunks_mut(R * cols).enumerate().for_each(block);
    }
    // weight and bias gradients: each column's sum over rows in row order, all columns at once
    let (mut sw, mut sb) = (vec![0f32; cols], vec![0f32; cols]);
    for r in 0..rows {
        let (mu, rs) = (mean[r], rstd[r]);
        let (xr, dyr) = (&x[r * cols..(r + 1) * cols], &dy[r * cols..(r + 1) * cols]);
        for c in 0..cols {
            sw[c] += dyr[c] * (xr[c] - mu) * rs;
            sb[c] += dyr[c];
        }
    }
    for c in 0..cols {
        dw[c] += sw[c];
        db[c] += sb[c];
    }
}
}
