//! Twins of `shaders/tokens.wgsl`: token embedding, patchify, 2×2 downsampling, positional add, masked mean pooling.

use rayon::prelude::*;

use super::Real;

/// Output sizes at which the twins split work across rayon threads.
const PAR_MIN: usize = 1 << 15;

/// out[i,:] = table[tokens[i],:]
/// out: [n_tok, c]; tokens: [n_tok]; table: [vocab, c]
pub fn embed_fwd<T: Real>(out: &mut [T], tokens: &[u32], table: &[T], n_tok: usize, c: usize) {
    if c == 0 {
        return;
    }
    for (i, row) in out[..n_tok * c].chunks_mut(c).enumerate() {
        let v = tokens[i] as usize;
        row.copy_from_slice(&table[v * c..(v + 1) * c]);
    }
}

/// dtable[v,:] += Σ_{i: tokens[i] = v} dout[i,:]   (tokens visited in order)
/// dtable: [vocab, c]; tokens: [n_tok]; dout: [n_tok, c]
pub fn embed_bwd<T: Real>(dtable: &mut [T], tokens: &[u32], dout: &[T], n_tok: usize, c: usize, vocab: usize) {
    if c == 0 {
        return;
    }
    // sum per vocabulary row first, then add once: the same order as the WGSL kernel
    let row = |v: usize, dt: &mut [T]| {
        let mut acc = vec![T::zero(); c];
        for i in (0..n_tok).filter(|&i| tokens[i] as usize == v) {
            for (a, &g) in acc.iter_mut().zip(&dout[i * c..(i + 1) * c]) {
                *a = *a + g;
            }
        }
        for (d, a) in dt.iter_mut().zip(acc) {
            *d = *d + a;
        }
    };
    let dtable = &mut dtable[..vocab * c];
    if vocab * n_tok >= PAR_MIN {
        dtable.par_chunks_mut(c).enumerate().for_each(|(v, dt)| row(v, dt));
    } else {
        dtable.chunks_mut(c).enumerate().for_each(|(v, dt)| row(v, dt));
    }
}

/// out[img, gy·(s/p)+gx, (py·p+px)·3+ch] = images[img, gy·p+py, gx·p+px, ch]
/// out: [n, (s/p)², p·p·3]; images: [n, s, s, 3] (HWC)
pub fn patchify<T: Real>(out: &mut [T], images: &[T], n: usize, s: usize, p: usize) {
    let g = s / p;
    let per_img = g * g * p * p * 3;
    if per_img == 0 {
        return;
    }
    let image = |img: usize, o: &mut [T]| {
        for gy in 0..g {
            for gx in 0..g {
                for py in 0..p {
                    for px in 0..p {
                        for ch in 0..3 {
                            let dst = (gy * g + gx) * p * p * 3 + (py * p + px) * 3 + ch;
                            o[dst] = images[((img * s + gy * p + py) * s + gx * p + px) * 3 + ch];
                        }
                    }
                }
            }
        }
    };
    let out = &mut out[..n * per_img];
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(per_img).enumerate().for_each(|(i, o)| image(i, o));
    } else {
        out.chunks_mut(per_img).enumerate().for_each(|(i, o)| image(i, o));
    }
}

/// out[img,y,x,ch] = ¼ Σ_{dy,dx ∈ {0,1}} images[img, 2y+dy, 2x+dx, ch]
/// out: [n, s/2, s/2, 3]; images: [n, s, s, 3]
pub fn downsample2x<T: Real>(out: &mut [T], images: &[T], n: usize, s: usize) {
    let h = s / 2;
    let per_img = h * h * 3;
    if per_img == 0 {
        return;
    }
    let image = |img: usize, o: &mut [T]| {
        for y in 0..h {
            for x in 0..h {
                for ch in 0..3 {
                    let i00 = ((img * s + 2 * y) * s + 2 * x) * 3 + ch;
                    let i10 = i00 + s * 3;
                    let sum = (images[i00] + images[i00 + 3]) + (images[i10] + images[i10 + 3]);
                    o[(y * h + x) * 3 + ch] = T::c(0.25) * sum;
                }
            }
        }
    };
    let out = &mut out[..n * per_img];
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(per_img).enumerate().for_each(|(i, o)| image(i, o));
    } else {
        out.chunks_mut(per_img).enumerate().for_each(|(i, o)| image(i, o));
    }
}

/// x[i,τ,:] += pos[τ,:]
/// x: [n, t, c]; pos: [t, c]
pub fn add_pos_fwd<T: Real>(x: &mut [T], pos: &[T], n: usize, t: usize, c: usize) {
    let tc = t * c;
    if tc == 0 {
        return;
    }
    let add = |xi: &mut [T]| {
        for (v, &q) in xi.iter_mut().zip(&pos[..tc]) {
            *v = *v + q;
        }
    };
    let x = &mut x[..n * tc];
    if x.len() >= PAR_MIN {
        x.par_chunks_mut(tc).for_each(add);
    } else {
        x.chunks_mut(tc).for_each(add);
    }
}

/// dpos[τ,:] += Σ_i dx[i,τ,:]
/// dpos: [t, c]; dx: [n, t, c]
pub fn add_pos_bwd<T: Real>(dpos: &mut [T], dx: &[T], n: usize, t: usize, c: usize) {
    let tc = t * c;
    for j in 0..tc {
        let s = (0..n).fold(T::zero(), |s, i| s + dx[i * tc + j]);
        dpos[j] = dpos[j] + s;
    }
}

/// Positions that count for sequence i: L_i = min(lens[i], t).
fn valid(lens: &[u32], i: usize, t: usize) -> usize {
    (lens[i] as usize).min(t)
}

/// out[i,:] = (1/L_i) Σ_{τ<L_i} x[i,τ,:],  L_i = min(lens[i], t)   (0 when L_i = 0)
/// out: [n, c]; x: [n, t, c]; lens: [n]
pub fn mean_pool_fwd<T: Real>(out: &mut [T], x: &[T], lens: &[u32], n: usize, t: usize, c: usize) {
    for i in 0..n {
        let len = valid(lens, i, t);
        let denom = T::from_usize(len.max(1)).unwrap();
        for ch in 0..c {
            let s = (0..len).fold(T::zero(), |s, tau| s + x[(i * t + tau) * c + ch]);
            out[i * c + ch] = s / denom;
        }
    }
}

/// dx[i,τ,:] += dout[i,:] / L_i  for τ < L_i = min(lens[i], t)
/// dx: [n, t, c]; dout: [n, c]; lens: [n]
pub fn mean_pool_bwd<T: Real>(dx: &mut [T], dout: &[T], lens: &[u32], n: usize, t: usize, c: usize) {
    for i in 0..n {
        let len = valid(lens, i, t);
        let denom = T::from_usize(len.max(1)).unwrap();
        for tau in 0..len {
            for ch in 0..c {
                let k = (i * t + tau) * c + ch;
                dx[k] = dx[k] + dout[i * c + ch] / denom;
            }
        }
    }
}

/// out [(g/2)², c] = ¼ Σ over each 2×2 cell of the g×g grid pos [g·g, c]   (Flexi-JEST low-res)
pub fn pos_pool2x_fwd<T: Real>(out: &mut [T], pos: &[T], g: usize, c: usize) {
    let h = g / 2;
    for y in 0..h {
        for x in 0..h {
            let (r0, r1) = ((2 * y) * g + 2 * x, (2 * y + 1) * g + 2 * x);
            for k in 0..c {
                out[(y * h + x) * c + k] = T::c(0.25) * (pos[r0 * c + k] + pos[(r0 + 1) * c + k] + pos[r1 * c + k] + pos[(r1 + 1) * c + k]);
            }
        }
    }
}

/// dpos [g·g, c] += ¼ dlow [(g/2)², c] of the cell each position was pooled into
pub fn pos_pool2x_bwd<T: Real>(dpos: &mut [T], dlow: &[T], g: usize, c: usize) {
    let h = g / 2;
    for y in 0..2 * h {
        for x in 0..2 * h {
            for k in 0..c {
                let i = (y * g + x) * c + k;
                dpos[i] = dpos[i] + T::c(0.25) * dlow[((y / 2) * h + x / 2) * c + k];
            }
        }
    }
}
