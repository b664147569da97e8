//! Twin of `shaders/optim.wgsl`: global gradient norm² and AdamW with clipping and the lr schedule.

use rayon::prelude::*;

use super::Real;
use crate::backend::AdamHp;

/// acc[0] += Σ x²  (summed in f64 here; the GPU uses a single-workgroup tree in f32).
/// Chunks of 2^14 are summed in parallel, then the partial sums in order: rayon leaves the
/// order in which a parallel `sum()` combines them unspecified (it follows how the work was
/// split and stolen), and the last bit of the norm must not depend on threads or timing.
pub fn sumsq<T: Real>(acc: &mut [T], x: &[T]) {
    let parts: Vec<f64> = x.par_chunks(1 << 14).map(|ch| ch.iter().map(|v| v.to_f64().unwrap().powi(2)).sum::<f64>()).collect();
    acc[0] = acc[0] + T::c(parts.iter().sum::<f64>());
}

/// Twin of `sumsq_partial`: partials[w] = Σ x[i]² over i = (w + k·G)·256 + l (k ≥ 0, l < 256),
/// G = partials.len() — the GPU's split of a long buffer over G workgroups, summed in f64.
pub fn sumsq_partials<T: Real>(partials: &mut [T], x: &[T]) {
    let g = partials.len();
    for (w, out) in partials.iter_mut().enumerate() {
        let s: f64 = (0..)
            .map(|k| (w + k * g) * 256)
            .take_while(|&start| start < x.len())
            .flat_map(|start| &x[start..(start + 256).min(x.len())])
            .map(|v| v.to_f64().unwrap().powi(2))
            .sum();
        *out = T::c(s);
    }
}

/// Twin of `sum_into`: acc[0] += Σ x
pub fn sum_into<T: Real>(acc: &mut [T], x: &[T]) {
    let s: f64 = x.iter().map(|v| v.to_f64().unwrap()).sum();
    acc[0] = acc[0] + T::c(s);
}

/// Learning rate at `hp.step` (1-based): linear warm-up base_lr·step/warmup for step ≤ warmup (if warmup > 0),
/// then cosine from base_lr (at step = warmup) to min_lr (at step ≥ total):
/// lr = min_lr + ½(base_lr − min_lr)(1 + cos(π·p)), p = clamp((step − warmup)/(total − warmup), 0, 1).
pub fn schedule_lr(hp: &AdamHp) -> f32 {
    let step = hp.step as f32;
    if hp.warmup > 0 && hp.step <= hp.warmup {
        return hp.base_lr * step / hp.warmup as f32;
    }
    let p = if hp.total > hp.warmup {
        ((step - hp.warmup as f32) / (hp.total - hp.warmup) as f32).clamp(0.0, 1.0)
    } else {
        1.0
    };
    hp.min_lr + 0.5 * (hp.base_lr - hp.min_lr) * (1.0 + (std::f32::consts::PI * p).cos())
}

/// Gradient scale from global-norm clipping: min(1, clip/(sqrt(gnorm2) + 1e-6)); 1 when clip ≤ 0.
pub fn clip_scale(gnorm2: f32, clip: f32) -> f32 {
    if clip > 0.0 {
        (clip / (gnorm2.sqrt() + 1e-6)).min(1.0)
    } else {
        1.0
    }
}

/// One AdamW step on param [n] with grad [n], moments m, v [n] and gnorm2 [1]:
/// g = grad·clip_scale; m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²;
/// p −= lr·( m/(1−β1^step) / (sqrt(v/(1−β2^step)) + eps) + wd·p ),  lr = schedule_lr(hp).
pub fn adamw(param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], gnorm2: &[f32], hp: &AdamHp) {
    let scale = clip_scale(gnorm2[0], hp.clip);
    let lr = schedule_lr(hp);
    let step = hp.step as f32;
    let bc1 = 1.0 - hp.beta1.powf(step);
    let bc2 = 1.0 - hp.beta2.powf(step);
    param.par_iter_mut().zip(grad.par_iter()).zip(m.par_iter_mut().zip(v.par_iter_mut())).with_min_len(4096).for_each(
        |((p, &g), (m, v))| {
            let g = g * scale;
            *m = hp.beta1 * *m + (1.0 - hp.beta1) * g;
            *v = hp.beta2 * *v + (1.0 - hp.beta2) * g * g;
            let mhat = *m / bc1;
            let vhat = *v / bc2;
            *p -= lr * (mhat / (vhat.sqrt() + hp.eps) + hp.weight_decay * *p);
        },
    );
}
