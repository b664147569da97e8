//! Area resampling (Flexi-JEST's low resolution for images and the positional grid): its
//! meaning on hand-checked cases, the backward against f64 finite differences, and the GPU
//! kernels against the twin on awkward sizes, down- and upsampling.
mod common;
use common::*;
use jest_wgpu::backend::Backend;
use jest_wgpu::cpu::tokens;

#[test]
fn area_resize_is_an_overlap_weighted_mean() {
    // 2× is 2×2 average pooling: out (1, 0, ch) averages rows 2–3, columns 0–1
    let s = 4;
    let img: Vec<f64> = (0..s * s * 3).map(|i| (100 * (i / 12) + 10 * ((i / 3) % 4) + i % 3) as f64).collect();
    let mut half = vec![0.0; 4 * 3];
    tokens::area_resize_fwd(&mut half, &img, 1, s, 2, 3);
    assert_eq!(&half[6..9], &[255., 256., 257.]);
    assert_eq!(&half[0..3], &[55., 56., 57.]);
    // 3 → 2: output cell 0 covers input [0, 1.5): weights ⅔ and ⅓ along each axis
    let x: Vec<f64> = (0..9).map(|i| i as f64).collect(); // x[u, v] = 3u + v, one channel
    let mut out = vec![0.0; 4];
    tokens::area_resize_fwd(&mut out, &x, 1, 3, 2, 1);
    let w = [[2.0 / 3.0, 1.0 / 3.0, 0.0], [0.0, 1.0 / 3.0, 2.0 / 3.0]];
    for y in 0..2 {
        for xx in 0..2 {
            let want: f64 = (0..3).flat_map(|u| (0..3).map(move |v| (u, v))).map(|(u, v)| w[y][u] * w[xx][v] * x[3 * u + v]).sum();
            assert!((out[2 * y + xx] - want).abs() < 1e-12, "({y},{xx}): {} vs {want}", out[2 * y + xx]);
        }
    }
    // the weights of every output cell sum to one, for any pair of sizes
    for &(s_in, s_out) in &[(32, 24), (32, 16), (8, 6), (7, 5), (9, 4), (5, 8), (1, 3)] {
        let ones = vec![1.0f64; 2 * s_in * s_in * 2];
        let mut out = vec![0.0; 2 * s_out * s_out * 2];
        tokens::area_resize_fwd(&mut out, &ones, 2, s_in, s_out, 2);
        let worst = out.iter().map(|o| (o - 1.0).abs()).fold(0.0, common::nan_max);
        assert!(worst < 1e-12, "{s_in}→{s_out}: a constant grid must stay constant (off by {worst:e})");
    }
}

#[test]
fn area_resize_backward_matches_finite_differences() {
    for &(n, s_in, s_out, ch) in &[(1, 2, 1, 1), (1, 4, 3, 3), (2, 5, 2, 2), (1, 8, 6, 7), (1, 7, 5, 2), (2, 3, 5, 1)] {
        let x = to64(&rand_vec(n * s_in * s_in * ch, 31, 1.0));
        let w = to64(&rand_vec(n * s_out * s_out * ch, 32, 1.0)); // dL/dout
        let loss = |x: &[f64]| {
            let mut o = vec![0.0; n * s_out * s_out * ch];
            tokens::area_resize_fwd(&mut o, x, n, s_in, s_out, ch);
            o.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>()
        };
        let start = to64(&rand_vec(x.len(), 33, 1.0));
        let mut d = start.clone();
        tokens::area_resize_bwd(&mut d, &w, n, s_in, s_out, ch);
        let analytic: Vec<f64> = d.iter().zip(&start).map(|(a, b)| a - b).collect();
        check_grad(&format!("area_resize n{n} {s_in}→{s_out} ch{ch}"), &x, &analytic, loss);
    }
}

#[test]
fn gpu_area_resize_matches_twin() {
    let Some(gb) = gpu("gpu_area_resize_matches_twin") else { return };
    let cases = [(1, 2, 1, 1), (3, 32, 24, 3), (3, 32, 16, 3), (7, 22, 11, 3), (2, 90, 45, 3), (1, 8, 6, 64), (1, 16, 10, 130), (5, 9, 7, 3), (2, 5, 8, 3)];
    for &(n, s_in, s_out, ch) in &cases {
        let x = rand_vec(n * s_in * s_in * ch, 34, 1.0);
        let mut want = vec![9.0; n * s_out * s_out * ch];
        tokens::area_resize_fwd(&mut want, &x, n, s_in, s_out, ch);
        let out = gb.upload(&vec![9.0; want.len()]);
        gb.area_resize_fwd(&out, &gb.upload(&x), n, s_in, s_out, ch);
        assert_close(&format!("gpu area_resize_fwd n{n} {s_in}→{s_out} ch{ch}"), &gb.read(&out).unwrap(), &want, 1e-6, 1e-6);
        let dout = rand_vec(want.len(), 35, 1.0);
        let d0 = rand_vec(x.len(), 36, 1.0);
        let mut want = d0.clone();
        tokens::area_resize_bwd(&mut want, &dout, n, s_in, s_out, ch);
        let d = gb.upload(&d0);
        gb.area_resize_bwd(&d, &gb.upload(&dout), n, s_in, s_out, ch);
        assert_close(&format!("gpu area_resize_bwd n{n} {s_in}→{s_out} ch{ch}"), &gb.read(&d).unwrap(), &want, 1e-6, 1e-6);
    }
}
