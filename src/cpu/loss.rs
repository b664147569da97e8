//! Twin of `shaders/loss.wgsl`: the sigmoid (SigLIP) contrastive loss on a b×b similarity matrix.
//!
//! logit_ij = exp(t′)·sims_ij + β, z_ij = +1 on the diagonal and −1 off it,
//! L_ij = softplus(−z·logit), ℓ = Σ L_ij / b.

use rayon::prelude::*;

use super::Real;

/// softplus(x) = log(1 + eˣ), computed as max(x,0) + log1p(e^−|x|) (no overflow).
pub fn softplus<T: Real>(x: T) -> T {
    x.max(T::zero()) + (-x.abs()).exp().ln_1p()
}

/// σ(x) = 1/(1 + e^−x), evaluated on the side where the exponential cannot overflow.
pub fn sigmoid<T: Real>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

/// Per-pair terms: (L_ij, g_ij = ∂ℓ·b/∂logit_ij = −z·σ(−z·logit)).
fn pair<T: Real>(s: T, et: T, beta: T, diag: bool) -> (T, T) {
    let z = if diag { T::one() } else { -T::one() };
    let x = -z * (et * s + beta);
    (softplus(x), -z * sigmoid(x))
}

/// lmat [b,b] = L_ij; dsims [b,b] = exp(t′)·g_ij/b (overwritten);
/// stats [3] = [ℓ, ∂ℓ/∂t′ = Σ dsims·sims, ∂ℓ/∂β = Σ g/b] (overwritten). sims [b,b], tb = [t′, β].
pub fn siglip_loss<T: Real>(lmat: &mut [T], dsims: &mut [T], stats: &mut [T], sims: &[T], tb: &[T], b: usize) {
    let (et, beta) = (tb[0].exp(), tb[1]);
    let inv_b = T::one() / T::c(b as f64);
    // per row: (Σ L, Σ g·et·s, Σ g)
    let rows: Vec<(T, T, T)> = lmat[..b * b]
        .par_chunks_mut(b)
        .zip(dsims[..b * b].par_chunks_mut(b))
        .enumerate()
        .map(|(i, (lrow, drow))| {
            let (mut sl, mut st, mut sb) = (T::zero(), T::zero(), T::zero());
            for j in 0..b {
                let s = sims[i * b + j];
                let (l, g) = pair(s, et, beta, i == j);
                lrow[j] = l;
                drow[j] = et * g * inv_b;
                sl = sl + l;
                st = st + g * et * s;
                sb = sb + g;
            }
            (sl, st, sb)
        })
        .collect();
    let (sl, st, sb) = rows.iter().fold((T::zero(), T::zero(), T::zero()), |a, r| (a.0 + r.0, a.1 + r.1, a.2 + r.2));
    stats[0] = sl * inv_b;
    stats[1] = st * inv_b;
    stats[2] = sb * inv_b;
}

/// ℓ alone (for gradient checks): Σ_ij softplus(−z·(exp(t′)·sims_ij + β)) / b.
pub fn siglip_loss_value<T: Real>(sims: &[T], tb: &[T], b: usize) -> T {
    let (et, beta) = (tb[0].exp(), tb[1]);
    let mut acc = T::zero();
    for i in 0..b {
        for j in 0..b {
            acc = acc + pair(sims[i * b + j], et, beta, i == j).0;
        }
    }
    acc / T::c(b as f64)
}
