//! elementwise.wgsl: fill, add_inplace and GELU forward/backward, GPU vs twin on sizes around
//! the 256-wide workgroup and one past the 65,535-workgroup fold; the twin's GELU backward vs
//! f64 central finite differences.
mod common;
use common::*;
use jest_wgpu::backend::Backend;
use jest_wgpu::cpu::elementwise::{add_inplace, gelu, gelu_bwd, gelu_fwd};

/// 1, one short of and one past a workgroup, several workgroups, and past 65,535 workgroups of
/// 256 (the dispatch folds into x·y there).
const SIZES: &[usize] = &[1, 255, 257, 70_001, 65_535 * 256 + 300];

/// Values in [-9, 9): through GELU's tanh clamp (|u| = 15 at |x| ≈ 6.5) and both tails.
fn inputs(n: usize, seed: u64) -> Vec<f32> {
    rand_vec(n, seed, 9.0)
}

#[test]
fn gpu_gelu_fwd_matches_twin() {
    let Some(g) = gpu("gpu_gelu_fwd_matches_twin") else { return };
    for &n in SIZES {
        let x = inputs(n, 1);
        let mut want = vec![0f32; n];
        gelu_fwd(&mut want, &x);
        let out = g.upload(&vec![7.0; n]);
        g.gelu_fwd(&out, &g.upload(&x));
        assert_close(&format!("gpu gelu_fwd n={n}"), &g.read(&out).unwrap(), &want, 1e-6, 1e-5);
    }
}

#[test]
fn gpu_gelu_bwd_accumulates_like_twin() {
    let Some(g) = gpu("gpu_gelu_bwd_accumulates_like_twin") else { return };
    for &n in SIZES {
        let (x, dy) = (inputs(n, 2), rand_vec(n, 3, 1.5));
        // dx starts nonzero: the backward adds dy · gelu'(x) to what is there
        let dx0 = rand_vec(n, 4, 0.5);
        let mut want = dx0.clone();
        gelu_bwd(&mut want, &x, &dy);
        let dx = g.upload(&dx0);
        g.gelu_bwd(&dx, &g.upload(&x), &g.upload(&dy));
        // for x ≳ 4, 1 − tanh²u is a difference of f32s near 1 (the true value ~1e-7, times
        // x·(1 + 3·0.044715 x²) ≈ 10): an ulp of the GPU's exp against the twin's moves gelu'
        // by ~1e-6 absolute, so the bound is absolute at that scale (|dy| ≤ 1.5, |dx0| ≤ 0.5)
        assert_close(&format!("gpu gelu_bwd n={n}"), &g.read(&dx).unwrap(), &want, 1e-5, 1e-5);
    }
}

#[test]
fn gpu_add_inplace_and_fill_match_twin() {
    let Some(g) = gpu("gpu_add_inplace_and_fill_match_twin") else { return };
    for &n in SIZES {
        let (dst0, src) = (rand_vec(n, 5, 2.0), rand_vec(n, 6, 2.0));
        let mut want = dst0.clone();
        add_inplace(&mut want, &src);
        let dst = g.upload(&dst0);
        g.add_inplace(&dst, &g.upload(&src));
        // one rounding of the same two f32s: equal bit for bit
        assert_same_bits(&format!("gpu add_inplace n={n}"), &g.read(&dst).unwrap(), &want);
        g.fill(&dst, -0.25);
        assert_same_bits(&format!("gpu fill n={n}"), &g.read(&dst).unwrap(), &vec![-0.25; n]);
    }
}

/// d/dx Σ w·gelu(x) = w · gelu'(x), from the backward started at zero; points near the tanh
/// clamp's kink (|x| ≈ 6.5) and near 0 included.
#[test]
fn gelu_bwd_twin_matches_finite_differences() {
    let mut x: Vec<f64> = rand_vec(200, 7, 8.0).iter().map(|&v| v as f64).collect();
    x.extend([0.0, 1e-3, -1e-3, 0.5, -0.5, 3.0, -3.0, 6.0, -6.0, 7.5, -7.5]);
    let w: Vec<f64> = rand_vec(x.len(), 8, 1.0).iter().map(|&v| v as f64 + 1.5).collect();
    let mut dx = vec![0f64; x.len()];
    gelu_bwd(&mut dx, &x, &w);
    check_grad("gelu_bwd (twin, f64)", &x, &dx, |x| x.iter().zip(&w).map(|(&x, &w)| w * gelu(x)).sum());
}
