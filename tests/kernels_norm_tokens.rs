//! norm.wgsl and tokens.wgsl: GPU vs twin on awkward sizes (accumulating grads start nonzero),
//! twin backward vs f64 central finite differences, and the hand-worked patchify layout.
mod common;
use common::*;
use jest_wgpu::backend::Backend;
use jest_wgpu::cpu::{norm, tokens};

const ROWS: &[usize] = &[1, 7, 300];
const COLS: &[usize] = &[1, 33, 65, 130];

/// Σ a·b
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// x − x0 elementwise (the part a backward added to its nonzero start)
fn minus(x: &[f64], x0: &[f64]) -> Vec<f64> {
    x.iter().zip(x0).map(|(a, b)| a - b).collect()
}

/// Deterministic token ids in [0, vocab), with repeats.
fn rand_tokens(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    rand_vec(n, seed, 1.0).iter().map(|&v| (((v + 1.0) * 0.5 * vocab as f32) as usize).min(vocab - 1) as u32).collect()
}

/// Lengths in [1, t], including 1 and t.
fn rand_lens(n: usize, t: usize, seed: u64) -> Vec<u32> {
    let mut l: Vec<u32> = rand_vec(n, seed, 1.0).iter().map(|&v| 1 + (((v + 1.0) * 0.5 * t as f32) as u32).min(t as u32 - 1)).collect();
    l[0] = 1;
    if n > 1 {
        l[n - 1] = t as u32;
    }
    l
}

// ---- norm ------------------------------------------------------------------------------

#[test]
fn gpu_layernorm_fwd_matches_twin() {
    let Some(g) = gpu("gpu_layernorm_fwd_matches_twin") else { return };
    for &rows in ROWS {
        for &cols in COLS {
            // an offset per element so the mean matters
            let x: Vec<f32> = rand_vec(rows * cols, 1, 2.0).iter().map(|v| v + 0.7).collect();
            let (w, b) = (rand_vec(cols, 2, 1.0), rand_vec(cols, 3, 1.0));
            let (mut out, mut mean, mut rstd) = (vec![9.0; rows * cols], vec![9.0; rows], vec![9.0; rows]);
            norm::layernorm_fwd(&mut out, &mut mean, &mut rstd, &x, &w, &b, rows, cols);
            let (go, gm, gr) = (g.upload(&vec![9.0; rows * cols]), g.upload(&vec![9.0; rows]), g.upload(&vec![9.0; rows]));
            g.layernorm_fwd(&go, &gm, &gr, &g.upload(&x), &g.upload(&w), &g.upload(&b), rows, cols);
            let tag = format!("{rows}x{cols}");
            assert_close(&format!("gpu layernorm_fwd out {tag}"), &g.read(&go).unwrap(), &out, 1e-4, 1e-4);
            assert_close(&format!("gpu layernorm_fwd mean {tag}"), &g.read(&gm).unwrap(), &mean, 1e-5, 1e-5);
            assert_close(&format!("gpu layernorm_fwd rstd {tag}"), &g.read(&gr).unwrap(), &rstd, 1e-4, 1e-4);
        }
    }
}

#[test]
fn gpu_layernorm_bwd_matches_twin() {
    let Some(g) = gpu("gpu_layernorm_bwd_matches_twin") else { return };
    for &rows in ROWS {
        for &cols in COLS {
            let n = rows * cols;
            let x: Vec<f32> = rand_vec(n, 4, 2.0).iter().map(|v| v - 0.3).collect();
            let (w, b, dy) = (rand_vec(cols, 5, 1.0), rand_vec(cols, 6, 1.0), rand_vec(n, 7, 1.0));
            let (mut out, mut mean, mut rstd) = (vec![0.0; n], vec![0.0; rows], vec![0.0; rows]);
            norm::layernorm_fwd(&mut out, &mut mean, &mut rstd, &x, &w, &b, rows, cols);
            let (dx0, dw0, db0) = (rand_vec(n, 8, 1.0), rand_vec(cols, 9, 1.0), rand_vec(cols, 10, 1.0));
            let (mut dx, mut dw, mut db) = (dx0.clone(), dw0.clone(), db0.clone());
            norm::layernorm_bwd(&mut dx, &mut dw, &mut db, &dy, &x, &mean, &rstd, &w, rows, cols);
            let (gdx, gdw, gdb) = (g.upload(&dx0), g.upload(&dw0), g.upload(&db0));
            g.layernorm_bwd(&gdx, &gdw, &gdb, &g.upload(&dy), &g.upload(&x), &g.upload(&mean), &g.upload(&rstd), &g.upload(&w), rows, cols);
            let tag = format!("{rows}x{cols}");
            assert_close(&format!("gpu layernorm_bwd dx {tag}"), &g.read(&gdx).unwrap(), &dx, 1e-4, 1e-4);
            assert_close(&format!("gpu layernorm_bwd dw {tag}"), &g.read(&gdw).unwrap(), &dw, 1e-3, 1e-4);
            assert_close(&format!("gpu layernorm_bwd db {tag}"), &g.read(&gdb).unwrap(), &db, 1e-3, 1e-4);
        }
    }
}

#[test]
fn layernorm_bwd_matches_finite_differences() {
    let (rows, cols) = (3, 7);
    let x = to64(&rand_vec(rows * cols, 11, 2.0));
    let w = to64(&rand_vec(cols, 12, 1.0));
    let b = to64(&rand_vec(cols, 13, 1.0));
    let wgt = to64(&rand_vec(rows * cols, 14, 1.0)); // dL/dout
    let loss = |x: &[f64], w: &[f64], b: &[f64]| {
        let (mut out, mut m, mut r) = (vec![0.0; rows * cols], vec![0.0; rows], vec![0.0; rows]);
        norm::layernorm_fwd(&mut out, &mut m, &mut r, x, w, b, rows, cols);
        dot(&out, &wgt)
    };
    let (mut out, mut mean, mut rstd) = (vec![0.0; rows * cols], vec![0.0; rows], vec![0.0; rows]);
    norm::layernorm_fwd(&mut out, &mut mean, &mut rstd, &x, &w, &b, rows, cols);
    // start from nonzero grads: the twin must add to them
    let (dx0, dw0, db0) = (to64(&rand_vec(rows * cols, 15, 1.0)), to64(&rand_vec(cols, 16, 1.0)), to64(&rand_vec(cols, 17, 1.0)));
    let (mut dx, mut dw, mut db) = (dx0.clone(), dw0.clone(), db0.clone());
    norm::layernorm_bwd(&mut dx, &mut dw, &mut db, &wgt, &x, &mean, &rstd, &w, rows, cols);
    check_grad("layernorm dx", &x, &minus(&dx, &dx0), |v| loss(v, &w, &b));
    check_grad("layernorm dw", &w, &minus(&dw, &dw0), |v| loss(&x, v, &b));
    check_grad("layernorm db", &b, &minus(&db, &db0), |v| loss(&x, &w, v));
}

#[test]
fn gpu_l2norm_fwd_matches_twin() {
    let Some(g) = gpu("gpu_l2norm_fwd_matches_twin") else { return };
    for &rows in ROWS {
        for &cols in COLS {
            let x = rand_vec(rows * cols, 18, 3.0);
            let (mut out, mut nrm) = (vec![9.0; rows * cols], vec![9.0; rows]);
            norm::l2norm_fwd(&mut out, &mut nrm, &x, rows, cols);
            let (go, gn) = (g.upload(&vec![9.0; rows * cols]), g.upload(&vec![9.0; rows]));
            g.l2norm_fwd(&go, &gn, &g.upload(&x), rows, cols);
            let tag = format!("{rows}x{cols}");
            assert_close(&format!("gpu l2norm_fwd out {tag}"), &g.read(&go).unwrap(), &out, 1e-5, 1e-4);
            assert_close(&format!("gpu l2norm_fwd norm {tag}"), &g.read(&gn).unwrap(), &nrm, 1e-5, 1e-5);
        }
    }
}

#[test]
fn gpu_l2norm_bwd_matches_twin() {
    let Some(g) = gpu("gpu_l2norm_bwd_matches_twin") else { return };
    for &rows in ROWS {
        for &cols in COLS {
            let n = rows * cols;
            let x = rand_vec(n, 19, 3.0);
            let (mut out, mut nrm) = (vec![0.0; n], vec![0.0; rows]);
            norm::l2norm_fwd(&mut out, &mut nrm, &x, rows, cols);
            let (dout, dx0) = (rand_vec(n, 20, 1.0), rand_vec(n, 21, 1.0));
            let mut dx = dx0.clone();
            norm::l2norm_bwd(&mut dx, &dout, &out, &nrm, rows, cols);
            let gdx = g.upload(&dx0);
            g.l2norm_bwd(&gdx, &g.upload(&dout), &g.upload(&out), &g.upload(&nrm), rows, cols);
            assert_close(&format!("gpu l2norm_bwd dx {rows}x{cols}"), &g.read(&gdx).unwrap(), &dx, 1e-5, 1e-4);
        }
    }
}

#[test]
fn l2norm_bwd_matches_finite_differences() {
    let (rows, cols) = (4, 6);
    let x = to64(&rand_vec(rows * cols, 22, 2.0));
    let wgt = to64(&rand_vec(rows * cols, 23, 1.0));
    let loss = |x: &[f64]| {
        let (mut out, mut nrm) = (vec![0.0; rows * cols], vec![0.0; rows]);
        norm::l2norm_fwd(&mut out, &mut nrm, x, rows, cols);
        dot(&out, &wgt)
    };
    let (mut out, mut nrm) = (vec![0.0; rows * cols], vec![0.0; rows]);
    norm::l2norm_fwd(&mut out, &mut nrm, &x, rows, cols);
    let dx0 = to64(&rand_vec(rows * cols, 24, 1.0));
    let mut dx = dx0.clone();
    norm::l2norm_bwd(&mut dx, &wgt, &out, &nrm, rows, cols);
    check_grad("l2norm dx", &x, &minus(&dx, &dx0), loss);
}

// ---- tokens ----------------------------------------------------------------------------

#[test]
fn gpu_embed_fwd_matches_twin() {
    let Some(g) = gpu("gpu_embed_fwd_matches_twin") else { return };
    let vocab = 50;
    for &n_tok in ROWS {
        for &c in COLS {
            let tok = rand_tokens(n_tok, vocab, 25);
            let table = rand_vec(vocab * c, 26, 1.0);
            let mut out = vec![9.0; n_tok * c];
            tokens::embed_fwd(&mut out, &tok, &table, n_tok, c);
            assert_eq!(&out[(n_tok - 1) * c..], &table[tok[n_tok - 1] as usize * c..(tok[n_tok - 1] as usize + 1) * c]);
            let go = g.upload(&vec![9.0; n_tok * c]);
            g.embed_fwd(&go, &g.upload_u32(&tok), &g.upload(&table), n_tok, c);
            assert_close(&format!("gpu embed_fwd {n_tok}x{c}"), &g.read(&go).unwrap(), &out, 0.0, 0.0);
        }
    }
}

/// The GPU's index of the tokens by vocabulary row (embed_bwd's first two passes) equals its
/// twin word for word, tokens past the vocabulary included (they are left out).
#[test]
fn gpu_embed_bwd_index_matches_twin() {
    let Some(g) = gpu("gpu_embed_bwd_index_matches_twin") else { return };
    for &vocab in &[1usize, 50, 300] {
        for &n_tok in ROWS {
            let mut tok = rand_tokens(n_tok, vocab, 31);
            if n_tok > 2 {
                tok[n_tok / 2] = vocab as u32 + 3; // out of range: no row
            }
            let want = tokens::embed_bwd_index(&tok, vocab);
            let idx = g.upload_u32(&vec![0; vocab + 1 + n_tok]);
            jest_wgpu::gpu::tokens::embed_bwd_index(&g.ctx, &idx, &g.upload_u32(&tok), n_tok, vocab);
            assert_eq!(g.read_u32(&idx).unwrap(), want, "index v{vocab} n_tok {n_tok}");
        }
    }
}

#[test]
fn gpu_embed_bwd_matches_twin() {
    let Some(g) = gpu("gpu_embed_bwd_matches_twin") else { return };
    for &vocab in &[1usize, 50, 300] {
        for &n_tok in ROWS {
            for &c in COLS {
                let mut tok = rand_tokens(n_tok, vocab, 27);
                if n_tok > 2 {
                    tok[1] = vocab as u32 + 5; // out of the table: contributes nothing
                }
                let dout = rand_vec(n_tok * c, 28, 1.0);
                let dt0 = rand_vec(vocab * c, 29, 1.0);
                let mut dt = dt0.clone();
                tokens::embed_bwd(&mut dt, &tok, &dout, n_tok, c, vocab);
                let gdt = g.upload(&dt0);
                // the index lives in the shared scratch: leave junk there first
                g.fill(&g.ctx.scratch(vocab + n_tok + 64), 3.0e9);
                g.embed_bwd(&gdt, &g.upload_u32(&tok), &g.upload(&dout), n_tok, c, vocab);
                assert_close(&format!("gpu embed_bwd v{vocab} {n_tok}x{c}"), &g.read(&gdt).unwrap(), &dt, 1e-5, 1e-5);
            }
        }
    }
}

#[test]
fn embed_bwd_matches_finite_differences() {
    let (n_tok, c, vocab) = (9, 4, 5);
    let tok = rand_tokens(n_tok, vocab, 30);
    let table = to64(&rand_vec(vocab * c, 31, 1.0));
    let wgt = to64(&rand_vec(n_tok * c, 32, 1.0));
    let loss = |tb: &[f64]| {
        let mut out = vec![0.0; n_tok * c];
        tokens::embed_fwd(&mut out, &tok, tb, n_tok, c);
        dot(&out, &wgt)
    };
    let dt0 = to64(&rand_vec(vocab * c, 33, 1.0));
    let mut dt = dt0.clone();
    tokens::embed_bwd(&mut dt, &tok, &wgt, n_tok, c, vocab);
    check_grad("embed dtable", &table, &minus(&dt, &dt0), loss);
}

/// Hand-worked layout: pixel (y, x, ch) holds 100y + 10x + ch.
#[test]
fn patchify_layout() {
    let s = 4;
    let img: Vec<f32> = (0..s * s * 3).map(|i| (100 * (i / 12) + 10 * ((i / 3) % 4) + i % 3) as f32).collect();
    let mut out = vec![0.0; 16 * 3];
    tokens::patchify(&mut out, &img, 1, s, 2);
    // patch 1 is (gy 0, gx 1): rows 0–1, columns 2–3, ordered (py, px, ch)
    assert_eq!(&out[12..24], &[20., 21., 22., 30., 31., 32., 120., 121., 122., 130., 131., 132.]);
    // patch 2 is (gy 1, gx 0)
    assert_eq!(&out[24..27], &[200., 201., 202.]);
}

#[test]
fn gpu_patchify_matches_twin() {
    let Some(g) = gpu("gpu_patchify_matches_twin") else { return };
    for &(n, s, p) in &[(1, 4, 2), (3, 32, 4), (2, 12, 3), (5, 16, 8), (7, 30, 5), (2, 9, 1)] {
        let img = rand_vec(n * s * s * 3, 34, 1.0);
        let len = n * (s / p) * (s / p) * p * p * 3;
        let mut out = vec![9.0; len];
        tokens::patchify(&mut out, &img, n, s, p);
        let go = g.upload(&vec![9.0; len]);
        g.patchify(&go, &g.upload(&img), n, s, p);
        assert_close(&format!("gpu patchify n{n} s{s} p{p}"), &g.read(&go).unwrap(), &out, 0.0, 0.0);
    }
}

const NTC: &[(usize, usize, usize)] = &[(1, 1, 1), (7, 33, 65), (3, 5, 130), (300, 7, 33)];

#[test]
fn gpu_add_pos_matches_twin() {
    let Some(g) = gpu("gpu_add_pos_matches_twin") else { return };
    for &(n, t, c) in NTC {
        let (x0, pos) = (rand_vec(n * t * c, 36, 1.0), rand_vec(t * c, 37, 1.0));
        let mut x = x0.clone();
        tokens::add_pos_fwd(&mut x, &pos, n, t, c);
        let gx = g.upload(&x0);
        g.add_pos_fwd(&gx, &g.upload(&pos), n, t, c);
        assert_close(&format!("gpu add_pos_fwd {n}x{t}x{c}"), &g.read(&gx).unwrap(), &x, 1e-7, 1e-6);

        let (dx, dpos0) = (rand_vec(n * t * c, 38, 1.0), rand_vec(t * c, 39, 1.0));
        let mut dpos = dpos0.clone();
        tokens::add_pos_bwd(&mut dpos, &dx, n, t, c);
        let gdp = g.upload(&dpos0);
        g.add_pos_bwd(&gdp, &g.upload(&dx), n, t, c);
        assert_close(&format!("gpu add_pos_bwd {n}x{t}x{c}"), &g.read(&gdp).unwrap(), &dpos, 1e-5, 1e-5);
    }
}

/// More than 65,535 workgroups of 256: the dispatch folds into x·y and every element is still hit once.
#[test]
fn gpu_add_pos_fwd_folded_dispatch() {
    let Some(g) = gpu("gpu_add_pos_fwd_folded_dispatch") else { return };
    let (n, t, c) = (65_536 + 3, 1, 256);
    let pos = rand_vec(t * c, 40, 1.0);
    let x0: Vec<f32> = (0..n * t * c).map(|i| (i % 1000) as f32).collect();
    let mut x = x0.clone();
    tokens::add_pos_fwd(&mut x, &pos, n, t, c);
    let gx = g.upload(&x0);
    g.add_pos_fwd(&gx, &g.upload(&pos), n, t, c);
    assert_close(&format!("gpu add_pos_fwd folded {n}x{t}x{c}"), &g.read(&gx).unwrap(), &x, 1e-6, 1e-6);
}

#[test]
fn add_pos_bwd_matches_finite_differences() {
    let (n, t, c) = (3, 4, 5);
    let x = to64(&rand_vec(n * t * c, 41, 1.0));
    let pos = to64(&rand_vec(t * c, 42, 1.0));
    let wgt = to64(&rand_vec(n * t * c, 43, 1.0));
    let loss = |p: &[f64]| {
        let mut y = x.clone();
        tokens::add_pos_fwd(&mut y, p, n, t, c);
        dot(&y, &wgt)
    };
    let dp0 = to64(&rand_vec(t * c, 44, 1.0));
    let mut dp = dp0.clone();
    tokens::add_pos_bwd(&mut dp, &wgt, n, t, c);
    check_grad("add_pos dpos", &pos, &minus(&dp, &dp0), loss);
}

#[test]
fn gpu_mean_pool_matches_twin() {
    let Some(g) = gpu("gpu_mean_pool_matches_twin") else { return };
    for &(n, t, c) in NTC {
        let lens = rand_lens(n, t, 45);
        let x = rand_vec(n * t * c, 46, 1.0);
        let mut out = vec![9.0; n * c];
        tokens::mean_pool_fwd(&mut out, &x, &lens, n, t, c);
        let glens = g.upload_u32(&lens);
        let go = g.upload(&vec![9.0; n * c]);
        g.mean_pool_fwd(&go, &g.upload(&x), &glens, n, t, c);
        assert_close(&format!("gpu mean_pool_fwd {n}x{t}x{c}"), &g.read(&go).unwrap(), &out, 1e-6, 1e-5);

        let (dout, dx0) = (rand_vec(n * c, 47, 1.0), rand_vec(n * t * c, 48, 1.0));
        let mut dx = dx0.clone();
        tokens::mean_pool_bwd(&mut dx, &dout, &lens, n, t, c);
        let gdx = g.upload(&dx0);
        g.mean_pool_bwd(&gdx, &g.upload(&dout), &glens, n, t, c);
        assert_close(&format!("gpu mean_pool_bwd {n}x{t}x{c}"), &g.read(&gdx).unwrap(), &dx, 1e-6, 1e-5);
    }
}

#[test]
fn mean_pool_ignores_padding_and_matches_finite_differences() {
    let (n, t, c) = (3, 5, 4);
    let lens = [1u32, 3, 5];
    let x = to64(&rand_vec(n * t * c, 49, 1.0));
    let wgt = to64(&rand_vec(n * c, 50, 1.0));
    let loss = |x: &[f64]| {
        let mut out = vec![0.0; n * c];
        tokens::mean_pool_fwd(&mut out, x, &lens, n, t, c);
        dot(&out, &wgt)
    };
    // padding positions do not change the output
    let mut padded = x.clone();
    padded[(t - 1) * c] += 100.0; // sequence 0, position 4 ≥ len 1
    assert_eq!(loss(&padded), loss(&x));
    let dx0 = to64(&rand_vec(n * t * c, 51, 1.0));
    let mut dx = dx0.clone();
    tokens::mean_pool_bwd(&mut dx, &wgt, &lens, n, t, c);
    let d = minus(&dx, &dx0);
    assert!(d[c..t * c].iter().all(|&v| v == 0.0), "padding of sequence 0 got a gradient");
    check_grad("mean_pool dx", &x, &d, loss);
}
