//! The CPU backend's fast f32 paths against the readable twins they stand in for.
mod common;
use common::*;
use jest_wgpu::cpu::{attention, attention_fast};

#[test]
fn fast_attention_matches_the_twin() {
    for &(n, t, c, heads) in &[(1, 1, 4, 1), (2, 7, 12, 3), (3, 33, 64, 4), (2, 64, 64, 4), (5, 16, 32, 2), (3, 16, 16, 1)] {
        let qkv = rand_vec(n * t * 3 * c, 21, 1.0);
        let lens: Vec<u32> = (0..n).map(|i| (t - (i * 5) % t) as u32).collect();
        let (mut o1, mut a1) = (vec![0.0; n * t * c], vec![0.0; n * heads * t * t]);
        let (mut o2, mut a2) = (vec![1.0; n * t * c], vec![1.0; n * heads * t * t]);
        attention::attention_fwd(&mut o1, &mut a1, &qkv, &lens, n, t, c, heads);
        attention_fast::attention_fwd(&mut o2, &mut a2, &qkv, &lens, n, t, c, heads);
        assert_close(&format!("fast attention out n{n} t{t} c{c} h{heads}"), &o2, &o1, 1e-5, 1e-4);
        assert_close(&format!("fast attention att n{n} t{t} c{c} h{heads}"), &a2, &a1, 1e-6, 1e-4);
        let dout = rand_vec(n * t * c, 22, 1.0);
        let d0 = rand_vec(n * t * 3 * c, 23, 1.0); // grads start nonzero: accumulation
        let (mut g1, mut s1) = (d0.clone(), vec![0.0; n * heads * t * t]);
        let (mut g2, mut s2) = (d0.clone(), vec![0.0; n * heads * t * t]);
        attention::attention_bwd(&mut g1, &mut s1, &dout, &qkv, &a1, &lens, n, t, c, heads);
        attention_fast::attention_bwd(&mut g2, &mut s2, &dout, &qkv, &a1, &lens, n, t, c, heads);
        assert_close(&format!("fast attention dqkv n{n} t{t} c{c} h{heads}"), &g2, &g1, 1e-5, 1e-4);
        assert_close(&format!("fast attention datt n{n} t{t} c{c} h{heads}"), &s2, &s1, 1e-5, 1e-4);
    }
}
