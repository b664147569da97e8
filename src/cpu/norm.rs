//! Twins of `shaders/norm.wgsl`: LayerNorm and L2 normalisation over the last axis, forward and backward.

use rayon::prelude::*;

use super::Real;

/// Rows·cols at which the twins split rows across rayon threads.
const PAR_MIN: usize = 1 << 14;

/// LayerNorm of one row: returns (μ, rstd) and writes out = (x − μ)·rstd·w + b.
fn layernorm_row<T: Real>(out: &mut [T], x: &[T], w: &[T], b: &[T]) -> (T, T) {
    let cols = T::from_usize(x.len()).unwrap();
    let mu = x.iter().fold(T::zero(), |s, &v| s + v) / cols;
    let var = x.iter().fold(T::zero(), |s, &v| s + (v - mu) * (v - mu)) / cols;
    let rs = T::one() / (var + T::c(1e-5)).sqrt();
    for c in 0..x.len() {
        out[c] = (x[c] - mu) * rs * w[c] + b[c];
    }
    (mu, rs)
}

/// out[r,:] = (x[r,:] − μ_r)·rstd_r·w + b ; mean[r] = μ_r ; rstd[r] = 1/sqrt(var_r + 1e-5)
/// out, x: [rows, cols]; mean, rstd: [rows]; w, b: [cols]
#[allow(clippy::too_many_arguments)]
pub fn layernorm_fwd<T: Real>(out: &mut [T], mean: &mut [T], rstd: &mut [T], x: &[T], w: &[T], b: &[T], rows: usize, cols: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    let (out, x) = (&mut out[..rows * cols], &x[..rows * cols]);
    let (mean, rstd) = (&mut mean[..rows], &mut rstd[..rows]);
    let row = |r: usize, o: &mut [T]| layernorm_row(o, &x[r * cols..(r + 1) * cols], w, b);
    let stats: Vec<(T, T)> = if rows * cols >= PAR_MIN {
        out.par_chunks_mut(cols).enumerate().map(|(r, o)| row(r, o)).collect()
    } else {
        out.chunks_mut(cols).enumerate().map(|(r, o)| row(r, o)).collect()
    };
    for (r, (mu, rs)) in stats.into_iter().enumerate() {
        mean[r] = mu;
        rstd[r] = rs;
    }
}

/// x̂ = (x − μ)·rstd, g = dy·w:
/// dx[r,c] += rstd·(g − mean_c(g) − x̂·mean_c(g·x̂)); dw[c] += Σ_r dy·x̂; db[c] += Σ_r dy
/// dx, dy, x: [rows, cols]; mean, rstd: [rows]; dw, db, w: [cols]
#[allow(clippy::too_many_arguments)]
pub fn layernorm_bwd<T: Real>(
    dx: &mut [T],
    dw: &mut [T],
    db: &mut [T],
    dy: &[T],
    x: &[T],
    mean: &[T],
    rstd: &[T],
    w: &[T],
    rows: usize,
    cols: usize,
) {
    if rows == 0 || cols == 0 {
        return;
    }
    let n = T::from_usize(cols).unwrap();
    let dx_row = |r: usize, dxr: &mut [T]| {
        let (mu, rs) = (mean[r], rstd[r]);
        let (xr, dyr) = (&x[r * cols..(r + 1) * cols], &dy[r * cols..(r + 1) * cols]);
        let (mut sg, mut sgx) = (T::zero(), T::zero());
        for c in 0..cols {
            let g = dyr[c] * w[c];
            sg = sg + g;
            sgx = sgx + g * (xr[c] - mu) * rs;
        }
        let (mg, mgx) = (sg / n, sgx / n);
        for c in 0..cols {
            let xh = (xr[c] - mu) * rs;
            dxr[c] = dxr[c] + rs * (dyr[c] * w[c] - mg - xh * mgx);
        }
    };
    let dx = &mut dx[..rows * cols];
    if rows * cols >= PAR_MIN {
        dx.par_chunks_mut(cols).enumerate().for_each(|(r, d)| dx_row(r, d));
    } else {
        dx.chunks_mut(cols).enumerate().for_each(|(r, d)| dx_row(r, d));
    }
    // weight and bias gradients: one sum over rows per column
    for c in 0..cols {
        let (mut sw, mut sb) = (T::zero(), T::zero());
        for r in 0..rows {
            let g = dy[r * cols + c];
            sw = sw + g * (x[r * cols + c] - mean[r]) * rstd[r];
            sb = sb + g;
        }
        dw[c] = dw[c] + sw;
        db[c] = db[c] + sb;
    }
}

/// out[r,:] = x[r,:] / n_r ; norm[r] = n_r = sqrt(Σ x² + 1e-12)
/// out, x: [rows, cols]; norm: [rows]
pub fn l2norm_fwd<T: Real>(out: &mut [T], norm: &mut [T], x: &[T], rows: usize, cols: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    let row = |((o, xr), nr): ((&mut [T], &[T]), &mut T)| {
        let n = (xr.iter().fold(T::zero(), |s, &v| s + v * v) + T::c(1e-12)).sqrt();
        for (o, &v) in o.iter_mut().zip(xr) {
            *o = v / n;
        }
        *nr = n;
    };
    let (out, x, norm) = (&mut out[..rows * cols], &x[..rows * cols], &mut norm[..rows]);
    if rows * cols >= PAR_MIN {
        out.par_chunks_mut(cols).zip(x.par_chunks(cols)).zip(norm.par_iter_mut()).for_each(row);
    } else {
        out.chunks_mut(cols).zip(x.chunks(cols)).zip(norm.iter_mut()).for_each(row);
    }
}

/// dx[r,:] += (dout − out·(out·dout)) / n_r
/// dx, dout, out: [rows, cols]; norm: [rows]
pub fn l2norm_bwd<T: Real>(dx: &mut [T], dout: &[T], out: &[T], norm: &[T], rows: usize, cols: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    let row = |r: usize, dxr: &mut [T]| {
        let (o, d) = (&out[r * cols..(r + 1) * cols], &dout[r * cols..(r + 1) * cols]);
        let s = o.iter().zip(d).fold(T::zero(), |s, (&a, &b)| s + a * b);
        for c in 0..cols {
            dxr[c] = dxr[c] + (d[c] - o[c] * s) / norm[r];
        }
    };
    let dx = &mut dx[..rows * cols];
    if rows * cols >= PAR_MIN {
        dx.par_chunks_mut(cols).enumerate().for_each(|(r, d)| row(r, d));
    } else {
        dx.chunks_mut(cols).enumerate().for_each(|(r, d)| row(r, d));
    }
}
