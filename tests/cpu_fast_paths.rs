//! The CPU backend's fast f32 paths against the readable twins they stand in for.
mod common;
use common::*;
use jest_wgpu::cpu::{attention, attention_fast};

/// Where `f32::exp` is glibc's (x86-64 Linux), the fast paths take the twins' every rounding
/// and give their values bit for bit; elsewhere their exp may differ by an ulp.
const EXACT: bool = cfg!(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"));

/// (atol, rtol): none where the fast path must equal the twin exactly.
fn tol(atol: f32, rtol: f32) -> (f32, f32) {
    if EXACT { (0.0, 0.0) } else { (atol, rtol) }
}

fn close(name: &str, got: &[f32], want: &[f32], (atol, rtol): (f32, f32)) {
    assert_close(name, got, want, atol, rtol)
}

#[test]
fn fast_attention_matches_the_twin() {
    let shapes = [(1, 1, 4, 1), (2, 7, 12, 3), (3, 33, 64, 4), (2, 64, 64, 4), (5, 16, 32, 2), (3, 16, 16, 1)];
    // head widths 8, 32, 64 (the register-held sums); t past a 16-lane block; lengths 70, 65, 60
    // of 70 (a 64-key block, then 1 key alone; blocks of 16, the last one partly past the length)
    let shapes = shapes.iter().chain(&[(2, 9, 16, 2), (2, 20, 64, 2), (1, 17, 64, 1), (3, 70, 24, 3)]);
    for &(n, t, c, heads) in shapes {
        let qkv = rand_vec(n * t * 3 * c, 21, 1.0);
        let lens: Vec<u32> = (0..n).map(|i| (t - (i * 5) % t) as u32).collect();
        let (mut o1, mut a1) = (vec![0.0; n * t * c], vec![0.0; n * heads * t * t]);
        attention::attention_fwd(&mut o1, &mut a1, &qkv, &lens, n, t, c, heads);
        let dout = rand_vec(n * t * c, 22, 1.0);
        let d0 = rand_vec(n * t * 3 * c, 23, 1.0); // grads start nonzero: accumulation
        let (mut g1, mut s1) = (d0.clone(), vec![0.0; n * heads * t * t]);
        attention::attention_bwd(&mut g1, &mut s1, &dout, &qkv, &a1, &lens, n, t, c, heads);
        // every build (AVX-512 where the CPU has it, AVX2, the baseline), so none differs unseen
        for (build, fwd, bwd) in attention_builds() {
            let what = format!("n{n} t{t} c{c} h{heads} ({build})");
            let (mut o2, mut a2) = (vec![1.0; n * t * c], vec![1.0; n * heads * t * t]);
            fwd(&mut o2, &mut a2, &qkv, &lens, n, t, c, heads);
            close(&format!("fast attention out {what}"), &o2, &o1, tol(1e-5, 1e-4));
            close(&format!("fast attention att {what}"), &a2, &a1, tol(1e-6, 1e-4));
            let (mut g2, mut s2) = (d0.clone(), vec![0.0; n * heads * t * t]);
            bwd(&mut g2, &mut s2, &dout, &qkv, &a1, &lens, n, t, c, heads);
            close(&format!("fast attention dqkv {what}"), &g2, &g1, tol(1e-5, 1e-4));
            close(&format!("fast attention datt {what}"), &s2, &s1, tol(1e-5, 1e-4));
        }
    }
}

type AttFwd = fn(&mut [f32], &mut [f32], &[f32], &[u32], usize, usize, usize, usize);
type AttBwd = fn(&mut [f32], &mut [f32], &[f32], &[f32], &[f32], &[u32], usize, usize, usize, usize);

/// The fast attention's builds: the widest this CPU has, AVX2 (or the baseline without it), the
/// baseline.
fn attention_builds() -> [(&'static str, AttFwd, AttBwd); 3] {
    use attention_fast::*;
    [("widest", attention_fwd, attention_bwd), ("avx2", attention_fwd_avx2, attention_bwd_avx2), ("plain", attention_fwd_plain, attention_bwd_plain)]
}

/// The CPU backend's f32 GELU (exps a block at a time) against the generic twin; sizes
/// around the 1024-element block and past the parallel threshold, x from −12 to 12 (the tanh
/// clamp included).
#[test]
fn f32_gelu_matches_the_twin() {
    use jest_wgpu::cpu::elementwise::*;
    type Fwd = fn(&mut [f32], &[f32]);
    type Bwd = fn(&mut [f32], &[f32], &[f32]);
    let builds: [(&str, Fwd, Bwd); 3] =
        [("widest", gelu_fwd_f32, gelu_bwd_f32), ("avx2", gelu_fwd_f32_avx2, gelu_bwd_f32_avx2), ("plain", gelu_fwd_f32_plain, gelu_bwd_f32_plain)];
    for &n in &[1, 15, 17, 1023, 1025, 3000, 40_000] {
        let x = rand_vec(n, 31, 12.0);
        let dy = rand_vec(n, 32, 1.0);
        let mut want = vec![0.0; n];
        gelu_fwd(&mut want, &x);
        let d0 = rand_vec(n, 33, 1.0); // dx accumulates
        let mut dwant = d0.clone();
        gelu_bwd(&mut dwant, &x, &dy);
        for (build, fwd, bwd) in builds {
            let (mut got, mut dgot) = (vec![7.0; n], d0.clone());
            fwd(&mut got, &x);
            bwd(&mut dgot, &x, &dy);
            close(&format!("gelu fwd n={n} ({build})"), &got, &want, tol(1e-6, 1e-5));
            close(&format!("gelu bwd n={n} ({build})"), &dgot, &dwant, tol(1e-6, 1e-5));
        }
    }
}

/// The indexed embedding backward gives the twin's gradient table bit for bit (no exp in it,
/// so on every platform): repeated tokens, rows no token uses, tokens ≥ vocab (left out), −0
/// in the table and in the gradients, c not a multiple of a vector.
#[test]
fn indexed_embed_bwd_matches_the_twin() {
    use jest_wgpu::cpu::tokens::{embed_bwd, embed_bwd_indexed};
    for &(n_tok, c, vocab) in &[(1, 1, 1), (37, 5, 11), (1024, 32, 300), (333, 64, 2000)] {
        let tokens: Vec<u32> = (0..n_tok).map(|i| ((i * 7919 + i / 3) % (vocab + 2)) as u32).collect();
        let mut dout = rand_vec(n_tok * c, 41, 1.0);
        dout[0] = -0.0;
        let mut table = rand_vec(vocab * c, 42, 1.0);
        table[c.min(vocab * c - 1)] = -0.0;
        let (mut want, mut got) = (table.clone(), table);
        embed_bwd(&mut want, &tokens, &dout, n_tok, c, vocab);
        embed_bwd_indexed(&mut got, &tokens, &dout, n_tok, c, vocab);
        assert_same_bits(&format!("indexed embed_bwd n_tok {n_tok} c {c} vocab {vocab}"), &got, &want);
    }
}

/// The CPU backend's LayerNorm (eight rows side by side) gives the twin's values bit for bit
/// (no exp in it, so on every platform): row counts that leave a partial block of eight, one
/// column, widths that are not a multiple of a vector, and sizes past the parallel threshold;
/// the gradients accumulate into nonzero dx, dw, db.
#[test]
fn fast_layernorm_matches_the_twin() {
    use jest_wgpu::cpu::{norm, norm_fast::*};
    type Fwd = fn(&mut [f32], &mut [f32], &mut [f32], &[f32], &[f32], &[f32], usize, usize);
    type Bwd = fn(&mut [f32], &mut [f32], &mut [f32], &[f32], &[f32], &[f32], &[f32], &[f32], usize, usize);
    let builds: [(&str, Fwd, Bwd); 3] =
        [("widest", layernorm_fwd, layernorm_bwd), ("avx2", layernorm_fwd_avx2, layernorm_bwd_avx2), ("plain", layernorm_fwd_plain, layernorm_bwd_plain)];
    let bits = |name: &str, got: &[f32], want: &[f32]| assert_same_bits(&format!("fast layernorm {name}"), got, want);
    for &(rows, cols) in &[(1, 1), (7, 5), (8, 1), (9, 64), (23, 17), (300, 64), (1029, 65)] {
        let x = rand_vec(rows * cols, 51, 3.0);
        let (w, b) = (rand_vec(cols, 52, 1.0), rand_vec(cols, 53, 1.0));
        let (mut o1, mut m1, mut s1) = (vec![0.0; rows * cols], vec![0.0; rows], vec![0.0; rows]);
        norm::layernorm_fwd(&mut o1, &mut m1, &mut s1, &x, &w, &b, rows, cols);
        let dy = rand_vec(rows * cols, 54, 1.0);
        let (dx0, dw0, db0) = (rand_vec(rows * cols, 55, 1.0), rand_vec(cols, 56, 1.0), rand_vec(cols, 57, 1.0));
        let (mut dx1, mut dw1, mut db1) = (dx0.clone(), dw0.clone(), db0.clone());
        norm::layernorm_bwd(&mut dx1, &mut dw1, &mut db1, &dy, &x, &m1, &s1, &w, rows, cols);
        for (build, fwd, bwd) in builds {
            let tag = format!("rows {rows} cols {cols} ({build})");
            let (mut o2, mut m2, mut s2) = (vec![9.0; rows * cols], vec![9.0; rows], vec![9.0; rows]);
            fwd(&mut o2, &mut m2, &mut s2, &x, &w, &b, rows, cols);
            bits(&format!("out {tag}"), &o2, &o1);
            bits(&format!("mean {tag}"), &m2, &m1);
            bits(&format!("rstd {tag}"), &s2, &s1);
            let (mut dx2, mut dw2, mut db2) = (dx0.clone(), dw0.clone(), db0.clone());
            bwd(&mut dx2, &mut dw2, &mut db2, &dy, &x, &m1, &s1, &w, rows, cols);
            bits(&format!("dx {tag}"), &dx2, &dx1);
            bits(&format!("dw {tag}"), &dw2, &dw1);
            bits(&format!("db {tag}"), &db2, &db1);
        }
    }
}
