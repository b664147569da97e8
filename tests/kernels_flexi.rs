//! pos_pool2x (Flexi-JEST's low-resolution positional table): GPU vs twin on awkward grids,
//! and the backward against f64 finite differences.
mod common;
use common::*;
use jest_wgpu::backend::Backend;
use jest_wgpu::cpu::tokens;

#[test]
fn pos_pool2x_backward_matches_finite_differences() {
    for &(g, c) in &[(2, 1), (4, 3), (5, 2), (8, 7)] {
        let h = g / 2;
        let pos = to64(&rand_vec(g * g * c, 31, 1.0));
        let w = to64(&rand_vec(h * h * c, 32, 1.0)); // dL/dout
        let loss = |x: &[f64]| {
            let mut o = vec![0.0; h * h * c];
            tokens::pos_pool2x_fwd(&mut o, x, g, c);
            o.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>()
        };
        let start = to64(&rand_vec(g * g * c, 33, 1.0));
        let mut d = start.clone();
        tokens::pos_pool2x_bwd(&mut d, &w, g, c);
        let analytic: Vec<f64> = d.iter().zip(&start).map(|(a, b)| a - b).collect();
        check_grad(&format!("pos_pool2x g{g} c{c}"), &pos, &analytic, loss);
    }
}

#[test]
fn gpu_pos_pool2x_matches_twin() {
    let Some(gb) = gpu("gpu_pos_pool2x_matches_twin") else { return };
    for &(g, c) in &[(2, 1), (5, 33), (8, 64), (16, 130)] {
        let h = g / 2;
        let pos = rand_vec(g * g * c, 34, 1.0);
        let mut want = vec![0.0; h * h * c];
        tokens::pos_pool2x_fwd(&mut want, &pos, g, c);
        let out = gb.zeros(h * h * c);
        gb.pos_pool2x_fwd(&out, &gb.upload(&pos), g, c);
        assert_close(&format!("gpu pos_pool2x_fwd g{g} c{c}"), &gb.read(&out).unwrap(), &want, 1e-6, 1e-6);
        let dlow = rand_vec(h * h * c, 35, 1.0);
        let d0 = rand_vec(g * g * c, 36, 1.0);
        let mut want = d0.clone();
        tokens::pos_pool2x_bwd(&mut want, &dlow, g, c);
        let d = gb.upload(&d0);
        gb.pos_pool2x_bwd(&d, &gb.upload(&dlow), g, c);
        assert_close(&format!("gpu pos_pool2x_bwd g{g} c{c}"), &gb.read(&d).unwrap(), &want, 1e-6, 1e-6);
    }
}
