//! Twins of `shaders/tokens.wgsl`: token embedding, patchify, area resampling, positional add, masked mean pooling.

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

/// Twin of `embed_bwd_start` + `embed_bwd_order` (the GPU's index of tokens by vocabulary row):
/// [start[0..=vocab] | order[0..n_tok)], start[v] = #{j : tokens[j] < v}, order[start[v]..
/// start[v+1]] = the positions i with tokens[i] = v, ascending. Tokens ≥ vocab are left out
/// (their order slots stay 0).
pub fn embed_bwd_index(tokens: &[u32], vocab: usize) -> Vec<u32> {
    let n_tok = tokens.len();
    let mut idx = vec![0u32; vocab + 1 + n_tok];
    // start[v + 1] = #{j : tokens[j] = v}, then summed from the left: start[v] = #{j : tokens[j] < v}
    for &t in tokens.iter().filter(|&&t| (t as usize) < vocab) {
        idx[t as usize + 1] += 1;
    }
    for v in 0..vocab {
        idx[v + 1] += idx[v];
    }
    let mut next: Vec<u32> = idx[..vocab].to_vec();
    for (i, &t) in tokens.iter().enumerate() {
        if (t as usize) < vocab {
            idx[vocab + 1 + next[t as usize] as usize] = i as u32;
            next[t as usize] += 1;
        }
    }
    idx
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

/// `embed_bwd` for the CPU backend: the same sums in the same order (each row's tokens in
/// position order, then added once; rows without a token get + 0 as there), through the index
/// of positions by vocabulary row (`embed_bwd_index`, the GPU kernel's) — O((vocab + n_tok)·c)
/// instead of the twin's scan of every token for every row.
pub fn embed_bwd_indexed(dtable: &mut [f32], tokens: &[u32], dout: &[f32], n_tok: usize, c: usize, vocab: usize) {
    if c == 0 {
        return;
    }
    let idx = embed_bwd_index(&tokens[..n_tok], vocab);
    let (start, order) = idx.split_at(vocab + 1);
    let mut acc = vec![0f32; c];
    for (v, dt) in dtable[..vocab * c].chunks_mut(c).enumerate() {
        acc.fill(0.0);
        for &i in &order[start[v] as usize..start[v + 1] as usize] {
            let i = i as usize;
            for (a, &g) in acc.iter_mut().zip(&dout[i * c..(i + 1) * c]) {
                *a += g;
            }
        }
        for (d, &a) in dt.iter_mut().zip(&acc) {
            *d += a;
        }
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

/// Area resampling s_in → s_out along both axes: output cell y covers [y·r, (y+1)·r) of the
/// input, r = s_in/s_out, and input cell u gets the weight of its overlap with it, over r.
/// In units of 1/(s_in·s_out) pixel, cell u spans [u·s_out, (u+1)·s_out) and cell y spans
/// [y·s_in, (y+1)·s_in): overlaps are integers, so twin and shader agree exactly.
/// Returns the weight w(y, u) = overlap / s_in.
pub fn area_weight(y: usize, u: usize, s_in: usize, s_out: usize) -> f64 {
    let lo = (u * s_out).max(y * s_in);
    let hi = ((u + 1) * s_out).min((y + 1) * s_in);
    hi.saturating_sub(lo) as f64 / s_in as f64
}

/// The input cells u that overlap output cell y: u_lo..=u_hi.
pub fn area_span(y: usize, s_in: usize, s_out: usize) -> (usize, usize) {
    ((y * s_in) / s_out, ((y + 1) * s_in - 1) / s_out)
}

/// out[i,y,x,k] = Σ_{u,v} w(y,u)·w(x,v)·x[i,u,v,k]   (w: `area_weight`)
/// out: [n, s_out, s_out, ch]; x: [n, s_in, s_in, ch]. Images ([n,s,s,3]) and the positional
/// grid ([1,g,g,c]) of Flexi-JEST's low resolution; s_in = 2·s_out is 2×2 average pooling.
pub fn area_resize_fwd<T: Real>(out: &mut [T], x: &[T], n: usize, s_in: usize, s_out: usize, ch: usize) {
    let per = s_out * s_out * ch;
    if per == 0 || s_in == 0 {
        return;
    }
    let one = |i: usize, o: &mut [T]| {
        for y in 0..s_out {
            let (u0, u1) = area_span(y, s_in, s_out);
            for xx in 0..s_out {
                let (v0, v1) = area_span(xx, s_in, s_out);
                for k in 0..ch {
                    let mut sum = T::c(0.0);
                    for u in u0..=u1 {
                        let wy = T::c(area_weight(y, u, s_in, s_out));
                        for v in v0..=v1 {
                            let w = wy * T::c(area_weight(xx, v, s_in, s_out));
                            sum = sum + w * x[((i * s_in + u) * s_in + v) * ch + k];
                        }
                    }
                    o[(y * s_out + xx) * ch + k] = sum;
                }
            }
        }
    };
    let out = &mut out[..n * per];
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(per).enumerate().for_each(|(i, o)| one(i, o));
    } else {
        out.chunks_mut(per).enumerate().for_each(|(i, o)| one(i, o));
    }
}

/// dx[i,u,v,k] += Σ_{y,x} w(y,u)·w(x,v)·dout[i,y,x,k]   — the transpose of `area_resize_fwd`
/// dx: [n, s_in, s_in, ch]; dout: [n, s_out, s_out, ch]
pub fn area_resize_bwd<T: Real>(dx: &mut [T], dout: &[T], n: usize, s_in: usize, s_out: usize, ch: usize) {
    if s_out == 0 {
        return;
    }
    for i in 0..n {
        for u in 0..s_in {
            let (y0, y1) = area_span(u, s_out, s_in);
            for v in 0..s_in {
                let (x0, x1) = area_span(v, s_out, s_in);
                for k in 0..ch {
                    let mut sum = T::c(0.0);
                    for y in y0..=y1 {
                        let wy = T::c(area_weight(y, u, s_in, s_out));
                        for xx in x0..=x1 {
                            let w = wy * T::c(area_weight(xx, v, s_in, s_out));
                            sum = sum + w * dout[((i * s_out + y) * s_out + xx) * ch + k];
                        }
                    }
                    let j = ((i * s_in + u) * s_in + v) * ch + k;
                    dx[j] = dx[j] + sum;
                }
            }
        }
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
