//! Twins of `shaders/elementwise.wgsl`: add_inplace, GELU forward/backward (and the CPU
//! backend's f32 GELU, its exps taken a block at a time).

use rayon::prelude::*;

use super::{expf, Real};

const PAR_MIN: usize = 1 << 15;

/// dst += src
pub fn add_inplace<T: Real>(dst: &mut [T], src: &[T]) {
    if dst.len() >= PAR_MIN {
        dst.par_iter_mut().zip(src.par_iter()).for_each(|(d, s)| *d = *d + *s);
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *d + *s;
        }
    }
}

/// The exponent of GELU's tanh: 2·clamp(u, ±15), u = √(2/π)(x + 0.044715 x³), so that
/// tanh(u) = (e − 1)/(e + 1) with e = exp of it (clamped: exp stays finite).
#[inline(always)]
fn tanh_exponent<T: Real>(x: T) -> T {
    let u = T::c(0.7978845608028654) * (x + T::c(0.044715) * x * x * x);
    T::c(2.0) * u.max(T::c(-15.0)).min(T::c(15.0))
}

/// gelu(x) given e = exp(tanh_exponent(x)): 0.5 x (1 + tanh(u)).
#[inline(always)]
fn gelu_with_exp<T: Real>(x: T, e: T) -> T {
    let th = (e - T::one()) / (e + T::one());
    T::c(0.5) * x * (T::one() + th)
}

/// gelu'(x) given e = exp(tanh_exponent(x)): 0.5 (1 + th) + 0.5 x (1 − th²) √(2/π) (1 + 3·0.044715 x²).
#[inline(always)]
fn gelu_grad_with_exp<T: Real>(x: T, e: T) -> T {
    let k = T::c(0.7978845608028654);
    let c = T::c(0.044715);
    let th = (e - T::one()) / (e + T::one());
    T::c(0.5) * (T::one() + th) + T::c(0.5) * x * (T::one() - th * th) * k * (T::one() + T::c(3.0) * c * x * x)
}

/// gelu(x) = 0.5 x (1 + tanh(sqrt(2/π)(x + 0.044715 x³)))
pub fn gelu<T: Real>(x: T) -> T {
    gelu_with_exp(x, tanh_exponent(x).exp())
}

/// d gelu / dx
pub fn gelu_grad<T: Real>(x: T) -> T {
    gelu_grad_with_exp(x, tanh_exponent(x).exp())
}

/// out = gelu(x)
pub fn gelu_fwd<T: Real>(out: &mut [T], x: &[T]) {
    if out.len() >= PAR_MIN {
        out.par_iter_mut().zip(x.par_iter()).for_each(|(o, v)| *o = gelu(*v));
    } else {
        for (o, v) in out.iter_mut().zip(x) {
            *o = gelu(*v);
        }
    }
}

/// dx += dy · gelu'(x)
pub fn gelu_bwd<T: Real>(dx: &mut [T], x: &[T], dy: &[T]) {
    let f = |(d, (v, g)): (&mut T, (&T, &T))| *d = *d + *g * gelu_grad(*v);
    if dx.len() >= PAR_MIN {
        dx.par_iter_mut().zip(x.par_iter().zip(dy.par_iter())).for_each(f);
    } else {
        dx.iter_mut().zip(x.iter().zip(dy.iter())).for_each(f);
    }
}

/// Elements per block of the f32 paths below: the exps of a block are taken together.
const BLOCK: usize = 1024;

widest! {
/// `gelu_fwd` on f32 with each block's exps taken side by side (`expf`): the same values.
pub fn gelu_fwd_f32 / gelu_fwd_f32_avx2 / gelu_fwd_f32_plain(out: &mut [f32], x: &[f32]) {
    let run = |(o, x): (&mut [f32], &[f32])| {
        o.iter_mut().zip(x).for_each(|(o, &v)| *o = tanh_exponent(v));
        expf::exp_in_place(o);
        o.iter_mut().zip(x).for_each(|(o, &v)| *o = gelu_with_exp(v, *o));
    };
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(BLOCK).zip(x.par_chunks(BLOCK)).for_each(run);
    } else {
        out.chunks_mut(BLOCK).zip(x.chunks(BLOCK)).for_each(run);
    }
}
}

widest! {
/// `gelu_bwd` on f32 with each block's exps taken side by side (`expf`): the same values.
pub fn gelu_bwd_f32 / gelu_bwd_f32_avx2 / gelu_bwd_f32_plain(dx: &mut [f32], x: &[f32], dy: &[f32]) {
    let run = |(d, (x, g)): (&mut [f32], (&[f32], &[f32]))| {
        let mut e = [0f32; BLOCK];
        let e = &mut e[..d.len()];
        e.iter_mut().zip(x).for_each(|(e, &v)| *e = tanh_exponent(v));
        expf::exp_in_place(e);
        for (((d, &v), &g), &e) in d.iter_mut().zip(x).zip(g).zip(e.iter()) {
            *d += g * gelu_grad_with_exp(v, e);
        }
    };
    if dx.len() >= PAR_MIN {
        dx.par_chunks_mut(BLOCK).zip(x.par_chunks(BLOCK).zip(dy.par_chunks(BLOCK))).for_each(run);
    } else {
        dx.chunks_mut(BLOCK).zip(x.chunks(BLOCK).zip(dy.chunks(BLOCK))).for_each(run);
    }
}
}
