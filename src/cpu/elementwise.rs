//! Twins of `shaders/elementwise.wgsl`: add, add_inplace, GELU forward/backward.

use rayon::prelude::*;

use super::Real;

const PAR_MIN: usize = 1 << 15;

/// out = a + b
pub fn add<T: Real>(out: &mut [T], a: &[T], b: &[T]) {
    let n = out.len();
    if n >= PAR_MIN {
        out.par_iter_mut().zip(a.par_iter().zip(b.par_iter())).for_each(|(o, (x, y))| *o = *x + *y);
    } else {
        for i in 0..n {
            out[i] = a[i] + b[i];
        }
    }
}

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

fn safe_tanh<T: Real>(u: T) -> T {
    let uc = u.max(T::c(-15.0)).min(T::c(15.0));
    let e = (T::c(2.0) * uc).exp();
    (e - T::one()) / (e + T::one())
}

/// gelu(x) = 0.5 x (1 + tanh(sqrt(2/π)(x + 0.044715 x³)))
pub fn gelu<T: Real>(x: T) -> T {
    let th = safe_tanh(T::c(0.7978845608028654) * (x + T::c(0.044715) * x * x * x));
    T::c(0.5) * x * (T::one() + th)
}

/// d gelu / dx
pub fn gelu_grad<T: Real>(x: T) -> T {
    let k = T::c(0.7978845608028654);
    let c = T::c(0.044715);
    let th = safe_tanh(k * (x + c * x * x * x));
    T::c(0.5) * (T::one() + th) + T::c(0.5) * x * (T::one() - th * th) * k * (T::one() + T::c(3.0) * c * x * x)
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
