//! The CPU backend's attention: the same math as the `attention` twin (and the WGSL kernel),
//! f32, with each head's q, k, v gathered into contiguous arrays — k (forward) and v (backward)
//! transposed to [hd, t], so one query's dot products with all keys are summed side by side and
//! vectorise, each still in the twin's order; query rows go four at a time, so their running
//! sums (softmax denominators, weighted rows) sit side by side in registers; a row's softmax
//! takes its exps together (`expf`). Equal to the twin bit for bit on glibc (`tests/cpu_fast_paths.rs`).

use rayon::prelude::*;

use super::attention::seq_len;
use super::copy_short;
use super::expf;

#[inline(always)]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yv, xv) in y.iter_mut().zip(x) {
        *yv += a * xv;
    }
}

/// Query rows handled together: their sums run side by side, each still in the twin's order.
const QB: usize = 4;

/// out[r, d] = Σ_{j<n} w[r·rs + j·cs]·m[j, d] for each row r of out [·, hd], m [n, hd]: the
/// twin's sums (0 + w₀m₀ + w₁m₁ + …, in j order), four rows at a time with the sums held in
/// registers when hd is one of the usual widths. The weights of row r are a row of a [·, t]
/// matrix (rs = t, cs = 1) or a column of it (rs = 1, cs = t).
#[inline(always)]
fn weighted_rows(out: &mut [f32], hd: usize, w: &[f32], (rs, cs): (usize, usize), n: usize, m: &[f32]) {
    #[inline(always)]
    fn fixed<const H: usize, const R: usize>(out: &mut [f32], w: &[f32], (rs, cs): (usize, usize), n: usize, m: &[f32]) {
        let mut acc = [[0f32; H]; R];
        for (j, mj) in m.chunks_exact(H).take(n).enumerate() {
            for (r, ar) in acc.iter_mut().enumerate() {
                let wv = w[r * rs + j * cs];
                for (a, &x) in ar.iter_mut().zip(mj) {
                    *a += wv * x;
                }
            }
        }
        for (o, a) in out.chunks_exact_mut(H).zip(&acc) {
            o.copy_from_slice(a);
        }
    }
    #[inline(always)]
    fn rows<const H: usize>(out: &mut [f32], w: &[f32], st: (usize, usize), n: usize, m: &[f32]) {
        for (blk, o) in out.chunks_mut(QB * H).enumerate() {
            let w = &w[blk * QB * st.0..];
            match o.len() / H {
                QB => fixed::<H, QB>(o, w, st, n, m),
                rest => (0..rest).for_each(|r| fixed::<H, 1>(&mut o[r * H..(r + 1) * H], &w[r * st.0..], st, n, m)),
            }
        }
    }
    match hd {
        8 => rows::<8>(out, w, (rs, cs), n, m),
        16 => rows::<16>(out, w, (rs, cs), n, m),
        32 => rows::<32>(out, w, (rs, cs), n, m),
        64 => rows::<64>(out, w, (rs, cs), n, m),
        _ => {
            for (r, o) in out.chunks_exact_mut(hd).enumerate() {
                o.fill(0.0);
                for (j, mj) in m.chunks_exact(hd).take(n).enumerate() {
                    axpy(o, w[r * rs + j * cs], mj);
                }
            }
        }
    }
}

/// s[r] = Σ_{j<len} x[r, j]·(y[r, j] or 1) for the rows of x [·, t], each sum in j order from 0
/// (the twin's), QB rows side by side.
#[inline(always)]
fn row_sums(s: &mut [f32], x: &[f32], y: Option<&[f32]>, t: usize, len: usize) {
    #[inline(always)]
    fn fixed<const R: usize>(s: &mut [f32], x: &[f32], y: Option<&[f32]>, t: usize, len: usize) {
        let mut acc = [0f32; R];
        for j in 0..len {
            for (r, a) in acc.iter_mut().enumerate() {
                *a += match y {
                    Some(y) => x[r * t + j] * y[r * t + j],
                    None => x[r * t + j],
                };
            }
        }
        s.copy_from_slice(&acc);
    }
    match s.len() {
        QB => fixed::<QB>(s, x, y, t, len),
        rest => (0..rest).for_each(|r| fixed::<1>(&mut s[r..r + 1], &x[r * t..], y.map(|y| &y[r * t..]), t, len)),
    }
}

/// The largest of xs (−∞ if empty), 16 running maxima side by side: max is exact, so the
/// order does not change the value.
#[inline(always)]
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
#[inline(always)]
fn gather(dst: &mut [f32], x: &[f32], part: usize, h: usize, t: usize, c: usize, hd: usize) {
    for i in 0..t {
        let src = i * 3 * c + part * c + h * hd;
        copy_short(&mut dst[i * hd..(i + 1) * hd], &x[src..src + hd]);
    }
}

/// The same, transposed: dst [hd, t], dst[d·t + i] = x[i, part·c + h·hd + d].
#[inline(always)]
fn gather_t(dst: &mut [f32], x: &[f32], part: usize, h: usize, t: usize, c: usize, hd: usize) {
    for i in 0..t {
        let src = i * 3 * c + part * c + h * hd;
        for (d, &xv) in x[src..src + hd].iter().enumerate() {
            dst[d * t + i] = xv;
        }
    }
}

/// out[j] = Σ_d u[d]·mt[d, j] for j < out.len(), mt [hd, t]: each sum taken in the order
/// d = 0, 1, …, as the twin's dot product does, but many j at once so the adds vectorise, held
/// in registers 64 (or 16) columns at a time. A last part block of 16 reads mt's columns past
/// out.len() (< t) and keeps only the sums wanted: each column's sum is its own.
#[inline(always)]
fn dots(out: &mut [f32], u: &[f32], mt: &[f32], t: usize) {
    #[inline(always)]
    fn block<const W: usize>(u: &[f32], mt: &[f32], t: usize, j0: usize) -> [f32; W] {
        let mut acc = [0f32; W];
        for (&ud, row) in u.iter().zip(mt.chunks_exact(t)) {
            let row: &[f32; W] = row[j0..j0 + W].try_into().unwrap();
            for (a, &m) in acc.iter_mut().zip(row) {
                *a += ud * m;
            }
        }
        acc
    }
    let len = out.len();
    let mut j0 = 0;
    while j0 + 64 <= len {
        out[j0..j0 + 64].copy_from_slice(&block::<64>(u, mt, t, j0));
        j0 += 64;
    }
    while j0 < len && j0 + 16 <= t {
        let w = 16.min(len - j0);
        out[j0..j0 + w].copy_from_slice(&block::<16>(u, mt, t, j0)[..w]);
        j0 += w;
    }
    if j0 < len {
        let rest = &mut out[j0..];
        rest.fill(0.0);
        for (&ud, row) in u.iter().zip(mt.chunks_exact(t)) {
            for (o, &m) in rest.iter_mut().zip(&row[j0..len]) {
                *o += ud * m;
            }
        }
    }
}

widest! {
/// See `Backend::attention_fwd`.
pub fn attention_fwd / attention_fwd_avx2 / attention_fwd_plain(out: &mut [f32], att: &mut [f32], qkv: &[f32], lens: &[u32], n: usize, t: usize, c: usize, heads: usize) {
    out[..n * t * c].par_chunks_mut(t * c).zip(att[..n * heads * t * t].par_chunks_mut(heads * t * t)).enumerate().for_each(
        |(b, (out_b, att_b))| fwd_seq(out_b, att_b, &qkv[b * t * 3 * c..(b + 1) * t * 3 * c], seq_len(lens[b], t), t, c, heads),
    );
}
}

/// One sequence, every head: out_b [t, c] and att_b [heads, t, t] from x, its qkv [t, 3c];
/// keys j < len.
#[inline(always)]
fn fwd_seq(out_b: &mut [f32], att_b: &mut [f32], x: &[f32], len: usize, t: usize, c: usize, heads: usize) {
    let hd = c / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let (mut q, mut kt, mut v, mut o) = (vec![0.0; t * hd], vec![0.0; hd * t], vec![0.0; t * hd], vec![0.0; QB * hd]);
    let mut sums = [0f32; QB];
    for h in 0..heads {
        gather(&mut q, x, 0, h, t, c, hd);
        gather_t(&mut kt, x, 1, h, t, c, hd);
        gather(&mut v, x, 2, h, t, c, hd);
        for (blk, rows) in att_b[h * t * t..(h + 1) * t * t].chunks_mut(QB * t).enumerate() {
            let (i0, nq) = (blk * QB, rows.len() / t);
            for (i, row) in (i0..).zip(rows.chunks_exact_mut(t)) {
                dots(&mut row[..len], &q[i * hd..(i + 1) * hd], &kt, t);
                row[..len].iter_mut().for_each(|r| *r *= scale);
                let mx = max_of(&row[..len]);
                row[..len].iter_mut().for_each(|r| *r -= mx);
                expf::exp_in_place(&mut row[..len]);
            }
            row_sums(&mut sums[..nq], rows, None, t, len);
            for (row, &sum) in rows.chunks_exact_mut(t).zip(&sums) {
                let inv = 1.0 / sum;
                row[..len].iter_mut().for_each(|r| *r *= inv);
                row[len..].iter_mut().for_each(|r| *r = 0.0);
            }
            weighted_rows(&mut o[..nq * hd], hd, rows, (t, 1), len, &v);
            for (i, oi) in (i0..).zip(o[..nq * hd].chunks_exact(hd)) {
                copy_short(&mut out_b[i * c + h * hd..i * c + (h + 1) * hd], oi);
            }
        }
    }
}

widest! {
/// See `Backend::attention_bwd` (dqkv accumulates; datt = ∂ℓ/∂scores before scaling).
pub fn attention_bwd / attention_bwd_avx2 / attention_bwd_plain(dqkv: &mut [f32], datt: &mut [f32], dout: &[f32], qkv: &[f32], att: &[f32], lens: &[u32], n: usize, t: usize, c: usize, heads: usize) {
    let (c3, tt) = (3 * c, heads * t * t);
    dqkv[..n * t * c3].par_chunks_mut(t * c3).zip(datt[..n * tt].par_chunks_mut(tt)).enumerate().for_each(|(b, (dx, datt_b))| {
        let (x, dout_b, att_b) = (&qkv[b * t * c3..(b + 1) * t * c3], &dout[b * t * c..(b + 1) * t * c], &att[b * tt..(b + 1) * tt]);
        bwd_seq(dx, datt_b, dout_b, x, att_b, seq_len(lens[b], t), t, c, heads)
    });
}
}

/// One sequence, every head: dx [t, 3c] += ∂ℓ/∂qkv and datt_b [heads, t, t] from dout_b
/// [t, c], x, its qkv [t, 3c], and att_b [heads, t, t]; keys j < len.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn bwd_seq(dx: &mut [f32], datt_b: &mut [f32], dout_b: &[f32], x: &[f32], att_b: &[f32], len: usize, t: usize, c: usize, heads: usize) {
    let hd = c / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let c3 = 3 * c;
    let z = || vec![0f32; t * hd];
    let (mut q, mut k, mut vt, mut dy) = (z(), z(), z(), z());
    let (mut dq, mut dk, mut dv) = (z(), z(), z());
    for h in 0..heads {
        gather(&mut q, x, 0, h, t, c, hd);
        gather(&mut k, x, 1, h, t, c, hd);
        gather_t(&mut vt, x, 2, h, t, c, hd);
        for i in 0..t {
            let src = i * c + h * hd;
            copy_short(&mut dy[i * hd..(i + 1) * hd], &dout_b[src..src + hd]);
        }
        let a_h = &att_b[h * t * t..(h + 1) * t * t];
        let g_h = &mut datt_b[h * t * t..(h + 1) * t * t];
        let mut s = [0f32; QB];
        for (blk, (a, g)) in a_h.chunks(QB * t).zip(g_h.chunks_mut(QB * t)).enumerate() {
            let (i0, nq) = (blk * QB, a.len() / t);
            for (i, gi) in (i0..).zip(g.chunks_exact_mut(t)) {
                dots(&mut gi[..len], &dy[i * hd..(i + 1) * hd], &vt, t);
            }
            row_sums(&mut s[..nq], a, Some(g), t, len);
            for ((ai, gi), &si) in a.chunks_exact(t).zip(g.chunks_exact_mut(t)).zip(&s) {
                for j in 0..len {
                    gi[j] = ai[j] * (gi[j] - si);
                }
                gi[len..].iter_mut().for_each(|x| *x = 0.0);
            }
        }
        // dq[i] = Σ_j g[i, j]·k[j]; dk[j] = Σ_i g[i, j]·q[i] and dv[j] = Σ_i a[i, j]·dy[i]
        // for j < len (rows past it stay zero), each summed in order as the twin does
        weighted_rows(&mut dq, hd, g_h, (t, 1), len, &k);
        weighted_rows(&mut dk[..len * hd], hd, g_h, (1, t), t, &q);
        weighted_rows(&mut dv[..len * hd], hd, a_h, (1, t), t, &dy);
        dk[len * hd..].fill(0.0);
        dv[len * hd..].fill(0.0);
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
}
