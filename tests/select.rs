//! JEST selection kernels: the fused score matrix (GPU vs twins vs SigLIP per-pair losses),
//! the joint sampler (GPU/CPU identical draws, validity, greedy limit, Gumbel-top-m
//! distributions by chi-square) and the row gather.
mod common;
use common::*;
use jest_wgpu::backend::{Backend, ScoreMode};
use jest_wgpu::cpu::{loss, select};

const MODES: [ScoreMode; 3] = [ScoreMode::Learnability, ScoreMode::EasyRef, ScoreMode::HardLearner];

/// Rows of [n, d] scaled to unit length (embeddings are L2-normalised in the model).
fn unit_rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut x = rand_vec(n * d, seed, 1.0);
    for r in x.chunks_mut(d) {
        let s = r.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
        r.iter_mut().for_each(|v| *v /= s);
    }
    x
}

struct Emb {
    ul: Vec<f32>,
    vl: Vec<f32>,
    ur: Vec<f32>,
    vr: Vec<f32>,
    tbl: Vec<f32>,
    tbr: Vec<f32>,
}

fn emb(bsz: usize, d: usize, seed: u64) -> Emb {
    Emb {
        ul: unit_rows(bsz, d, seed),
        vl: unit_rows(bsz, d, seed + 1),
        ur: unit_rows(bsz, d, seed + 2),
        vr: unit_rows(bsz, d, seed + 3),
        tbl: vec![10f32.ln(), -4.0],
        tbr: vec![2.5, -6.0],
    }
}

fn twin_scores(e: &Emb, bsz: usize, d: usize, mode: ScoreMode, gain: f32) -> Vec<f32> {
    let mut a = vec![0f32; bsz * bsz];
    select::score_matrix(&mut a, &e.ul, &e.vl, &e.tbl, &e.ur, &e.vr, &e.tbr, bsz, d, mode, gain);
    a
}

#[test]
fn score_matrix_fast_twin_matches_f64_reference() {
    for (bsz, d) in [(1, 5), (7, 64), (130, 5), (333, 64)] {
        let e = emb(bsz, d, 11);
        for mode in MODES {
            let fast = twin_scores(&e, bsz, d, mode, 100.0);
            let mut want = vec![0f64; bsz * bsz];
            select::score_matrix_ref(
                &mut want, &to64(&e.ul), &to64(&e.vl), &to64(&e.tbl), &to64(&e.ur), &to64(&e.vr), &to64(&e.tbr),
                bsz, d, mode, 100.0,
            );
            let want: Vec<f32> = want.iter().map(|&x| x as f32).collect();
            assert_close(&format!("score twin B={bsz} d={d} {mode:?}"), &fast, &want, 1e-3, 1e-5);
        }
    }
}

#[test]
fn gpu_score_matrix_matches_twin_and_writes_only_a() {
    let Some(g) = gpu("gpu_score_matrix_matches_twin_and_writes_only_a") else { return };
    for (bsz, d) in [(1, 5), (1, 64), (7, 5), (7, 64), (130, 5), (130, 64), (333, 5), (333, 64)] {
        let e = emb(bsz, d, 5 + bsz as u64);
        let (ul, vl, tbl) = (g.upload(&e.ul), g.upload(&e.vl), g.upload(&e.tbl));
        let (ur, vr, tbr) = (g.upload(&e.ur), g.upload(&e.vr), g.upload(&e.tbr));
        for mode in MODES {
            let want = twin_scores(&e, bsz, d, mode, 100.0);
            // A starts as garbage with 16 guard words after B×B: overwritten exactly, nothing more
            let ga = g.upload(&vec![7.25f32; bsz * bsz + 16]);
            g.score_matrix(&ga, &ul, &vl, &tbl, &ur, &vr, &tbr, bsz, d, mode, 100.0);
            let got = g.read(&ga).unwrap();
            assert!(got[bsz * bsz..].iter().all(|&x| x == 7.25), "score_matrix wrote past B×B");
            assert_close(&format!("gpu score B={bsz} d={d} {mode:?}"), &got[..bsz * bsz], &want, 1e-3, 1e-5);
        }
    }
}

/// sims = U·Vᵀ by three plain loops (independent of the matmul kernels)
fn naive_sims(u: &[f64], v: &[f64], n: usize, d: usize) -> Vec<f64> {
    let mut s = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            s[i * n + j] = (0..d).map(|k| u[i * d + k] * v[j * d + k]).sum();
        }
    }
    s
}

fn siglip_lmat(sims: &[f64], tb: &[f64], n: usize) -> Vec<f64> {
    let (mut lmat, mut dsims, mut stats) = (vec![0f64; n * n], vec![0f64; n * n], vec![0f64; 3]);
    loss::siglip_loss(&mut lmat, &mut dsims, &mut stats, sims, tb, n);
    lmat
}

#[test]
fn score_matrix_is_gain_times_siglip_loss_difference() {
    let gpu_backend = gpu("score_matrix_is_gain_times_siglip_loss_difference");
    let (bsz, d, gain) = (9, 16, 100.0);
    let e = emb(bsz, d, 77);
    let ll = siglip_lmat(&naive_sims(&to64(&e.ul), &to64(&e.vl), bsz, d), &to64(&e.tbl), bsz);
    let lr = siglip_lmat(&naive_sims(&to64(&e.ur), &to64(&e.vr), bsz, d), &to64(&e.tbr), bsz);
    for mode in MODES {
        let want: Vec<f64> = (0..bsz * bsz)
            .map(|k| {
                gain * match mode {
                    ScoreMode::Learnability => ll[k] - lr[k],
                    ScoreMode::EasyRef => -lr[k],
                    ScoreMode::HardLearner => ll[k],
                }
            })
            .collect();
        let mut r64 = vec![0f64; bsz * bsz];
        select::score_matrix_ref(
            &mut r64, &to64(&e.ul), &to64(&e.vl), &to64(&e.tbl), &to64(&e.ur), &to64(&e.vr), &to64(&e.tbr),
            bsz, d, mode, gain,
        );
        let err = r64.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f64, common::nan_max);
        println!("score ref f64 vs gain·(L_l − L_r) {mode:?}: max diff {err:.3e}");
        assert!(err < 1e-9, "{mode:?}: f64 reference differs from the SigLIP losses by {err}");
        let want32: Vec<f32> = want.iter().map(|&x| x as f32).collect();
        assert_close(&format!("score twin vs SigLIP losses {mode:?}"), &twin_scores(&e, bsz, d, mode, gain as f32), &want32, 1e-3, 1e-5);
        if let Some(g) = &gpu_backend {
            let ga = g.zeros(bsz * bsz);
            let up = |x: &[f32]| g.upload(x);
            g.score_matrix(&ga, &up(&e.ul), &up(&e.vl), &up(&e.tbl), &up(&e.ur), &up(&e.vr), &up(&e.tbr), bsz, d, mode, gain as f32);
            assert_close(&format!("gpu score vs SigLIP losses {mode:?}"), &g.read(&ga).unwrap(), &want32, 1e-3, 1e-5);
        }
    }
}

// ---- sampler ---------------------------------------------------------------------------

fn cpu_sample(a: &[f32], bsz: usize, b: usize, chunks: usize, joint: bool, seed: u32, step: u32) -> Vec<u32> {
    let mut out = vec![0u32; b];
    let mut sums = rand_vec(2 * bsz, seed as u64, 50.0); // garbage scratch: must be reset
    select::joint_sample(&mut out, a, &mut sums, bsz, b, chunks, joint, seed, step);
    out
}

fn assert_valid(name: &str, idx: &[u32], bsz: usize, b: usize) {
    assert_eq!(idx.len(), b, "{name}: length");
    let mut seen = vec![false; bsz];
    for &i in idx {
        assert!((i as usize) < bsz, "{name}: index {i} out of range");
        assert!(!seen[i as usize], "{name}: index {i} chosen twice");
        seen[i as usize] = true;
    }
}

#[test]
fn gpu_sampler_matches_twin_exactly() {
    let Some(g) = gpu("gpu_sampler_matches_twin_exactly") else { return };
    let mut runs = 0;
    for (bsz, b, chunks, scale) in [(320, 64, 16, 5.0), (1000, 100, 10, 2.0), (37, 37, 1, 3.0), (5, 4, 4, 1.0)] {
        let a = rand_vec(bsz * bsz, bsz as u64, scale);
        let ga = g.upload(&a);
        for joint in [true, false] {
            for (seed, step) in [(1u32, 0u32), (2, 7), (12345, 999_999), (0xdead_beef, 3)] {
                let want = cpu_sample(&a, bsz, b, chunks, joint, seed, step);
                let name = format!("sampler B={bsz} b={b} chunks={chunks} joint={joint} seed={seed} step={step}");
                assert_valid(&name, &want, bsz, b);
                let gidx = g.upload_u32(&vec![u32::MAX; b]);
                let gsums = g.upload(&rand_vec(2 * bsz, 3, 50.0));
                g.joint_sample(&gidx, &ga, &gsums, bsz, b, chunks, joint, seed, step);
                let got = g.read_u32(&gidx).unwrap();
                assert_eq!(got, want, "{name}: GPU and CPU indices differ");
                runs += 1;
            }
        }
        // joint and independent selection really differ on a non-diagonal A
        if b < bsz && chunks > 1 {
            assert_ne!(cpu_sample(&a, bsz, b, chunks, true, 1, 0), cpu_sample(&a, bsz, b, chunks, false, 1, 0));
        }
    }
    println!("gpu sampler: {runs} runs, indices identical to the twin");
}

/// Conditional scores in f64, computed from A directly: s_c = A_cc + Σ_{k∈S}(A_kc + A_ck).
fn conditional_scores(a: &[f32], bsz: usize, chosen: &[u32], joint: bool) -> Vec<f64> {
    (0..bsz)
        .map(|c| {
            let mut s = a[c * bsz + c] as f64;
            if joint {
                for &k in chosen {
                    let k = k as usize;
                    s += a[k * bsz + c] as f64 + a[c * bsz + k] as f64;
                }
            }
            s
        })
        .collect()
}

#[test]
fn sampler_at_huge_gain_is_greedy_per_chunk() {
    let gpu_backend = gpu("sampler_at_huge_gain_is_greedy_per_chunk");
    // any two Gumbel draws differ by less than 16.7 + 2.9 (u ∈ [2⁻²⁵, 1 − 2⁻²⁴]); f32 running
    // sums of ≤ 120 terms of size ≤ 1e7 add at most ~30 of rounding: where the greedy ranking
    // has margins above 100, the draw is determined. Scale 1e6 makes most chunks decisive
    // (at 1e4 the top scores of 320 candidates sit ~60 apart, too close to decide).
    const MARGIN: f64 = 100.0;
    let (bsz, b, chunks) = (320, 64, 16);
    let m = b / chunks;
    let (mut checked, mut total) = (0, 0);
    for seed in 0..4u32 {
        let base = rand_vec(bsz * bsz, 100 + seed as u64, 1.0);
        let a: Vec<f32> = base.iter().map(|x| x * 1e6).collect();
        for joint in [true, false] {
            let mut runs = vec![cpu_sample(&a, bsz, b, chunks, joint, seed, 5)];
            if let Some(g) = &gpu_backend {
                let gidx = g.zeros(b);
                g.joint_sample(&gidx, &g.upload(&a), &g.zeros(2 * bsz), bsz, b, chunks, joint, seed, 5);
                runs.push(g.read_u32(&gidx).unwrap());
            }
            for idx in runs {
                for n in 0..chunks {
                    let chosen = &idx[..n * m];
                    let s = conditional_scores(&a, bsz, chosen, joint);
                    let mut order: Vec<usize> = (0..bsz).filter(|c| !chosen.contains(&(*c as u32))).collect();
                    order.sort_by(|&x, &y| s[y].partial_cmp(&s[x]).unwrap());
                    let margin = (0..m).map(|t| s[order[t]] - s[order[t + 1]]).fold(f64::INFINITY, f64::min);
                    total += 1;
                    if margin < MARGIN {
                        continue;
                    }
                    checked += 1;
                    let greedy: Vec<u32> = order[..m].iter().map(|&c| c as u32).collect();
                    assert_eq!(&idx[n * m..(n + 1) * m], &greedy[..], "seed {seed} joint={joint} chunk {n}: not the greedy top-{m}");
                }
            }
        }
    }
    println!("greedy limit: {checked}/{total} chunks with margin ≥ {MARGIN} equal the greedy top-m");
    assert!(checked * 10 >= total * 8, "too few decisive chunks ({checked}/{total})");
}

/// Upper chi-square quantile (Wilson–Hilferty) at standard-normal z.
fn chi2_crit(dof: usize, z: f64) -> f64 {
    let k = dof as f64;
    let h = 2.0 / (9.0 * k);
    k * (1.0 - h + z * h.sqrt()).powi(3)
}

fn chi2(counts: &[u64], probs: &[f64], n: u64) -> f64 {
    counts.iter().zip(probs).map(|(&o, &p)| (o as f64 - n as f64 * p).powi(2) / (n as f64 * p)).sum()
}

/// z for p ≈ 1e-5 (the draws are seeded, so each statistic is a fixed number)
const Z: f64 = 4.265;

#[test]
fn sampler_with_zero_scores_is_uniform() {
    // B = 10, b = 2 in one chunk: the ordered pair (first, second) is uniform over 90 pairs
    let (bsz, b, draws) = (10, 2, 20_000u32);
    let a = vec![0f32; bsz * bsz];
    let mut counts = vec![0u64; bsz * bsz];
    let mut singles = vec![0u64; bsz];
    for s in 0..draws {
        let idx = cpu_sample(&a, bsz, b, 1, true, s, s % 13);
        assert_valid("uniform", &idx, bsz, b);
        counts[idx[0] as usize * bsz + idx[1] as usize] += 1;
        singles[idx[0] as usize] += 1;
        singles[idx[1] as usize] += 1;
    }
    let cells: Vec<u64> = (0..bsz * bsz).filter(|k| k / bsz != k % bsz).map(|k| counts[k]).collect();
    let probs = vec![1.0 / 90.0; 90];
    let x2 = chi2(&cells, &probs, draws as u64);
    let crit = chi2_crit(89, Z);
    println!("uniform: ordered pairs chi² = {x2:.1} (89 dof, critical {crit:.1}); per index {singles:?}");
    assert!(x2 < crit, "A = 0 must give uniform ordered pairs: chi² {x2:.1} ≥ {crit:.1}");
    let x2s = chi2(&singles, &[0.1; 10], 2 * draws as u64);
    println!("uniform: per-index chi² = {x2s:.1} (9 dof, critical {:.1})", chi2_crit(9, Z));
    assert!(x2s < chi2_crit(9, Z));
}

fn softmax(x: &[f64]) -> Vec<f64> {
    let mx = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - mx).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

#[test]
fn sampler_first_chunk_follows_softmax_of_diagonal() {
    // B = 6, m = 1 (b = chunks = 3): the first index ~ softmax(A_cc); off-diagonal A does not matter
    let (bsz, b, chunks, draws) = (6, 3, 3, 30_000u32);
    let mut a = rand_vec(bsz * bsz, 9, 3.0);
    let diag = [1.2f32, -0.7, 0.0, 2.0, -1.5, 0.4];
    for c in 0..bsz {
        a[c * bsz + c] = diag[c];
    }
    let p = softmax(&diag.iter().map(|&x| x as f64).collect::<Vec<_>>());
    let mut counts = vec![0u64; bsz];
    for s in 0..draws {
        let idx = cpu_sample(&a, bsz, b, chunks, true, s, 1);
        assert_valid("first chunk", &idx, bsz, b);
        counts[idx[0] as usize] += 1;
    }
    let x2 = chi2(&counts, &p, draws as u64);
    let crit = chi2_crit(bsz - 1, Z);
    println!("first chunk: counts {counts:?} vs p {p:.4?}: chi² = {x2:.2} (5 dof, critical {crit:.1})");
    assert!(x2 < crit, "first index must follow softmax(diag A): chi² {x2:.2} ≥ {crit:.1}");
}

#[test]
fn sampler_second_chunk_follows_conditional_softmax() {
    // B = 5, b = 2 in 2 chunks: given first k, second c ~ softmax over c ≠ k of
    // A_cc + A_kc + A_ck (joint), or of A_cc alone (independent)
    let (bsz, draws) = (5, 40_000u32);
    let a = rand_vec(bsz * bsz, 21, 1.5);
    for joint in [true, false] {
        let mut counts = vec![0u64; bsz * bsz];
        for s in 0..draws {
            let idx = cpu_sample(&a, bsz, 2, 2, joint, s, 2);
            counts[idx[0] as usize * bsz + idx[1] as usize] += 1;
        }
        // chi² of the draws against the conditional softmax of joint (`model_joint`) scores
        let stat = |model_joint: bool| {
            let (mut x2, mut dof) = (0.0, 0);
            for k in 0..bsz {
                let rest: Vec<usize> = (0..bsz).filter(|&c| c != k).collect();
                let s = conditional_scores(&a, bsz, &[k as u32], model_joint);
                let p = softmax(&rest.iter().map(|&c| s[c]).collect::<Vec<_>>());
                let obs: Vec<u64> = rest.iter().map(|&c| counts[k * bsz + c]).collect();
                let n: u64 = obs.iter().sum();
                x2 += chi2(&obs, &p, n);
                dof += rest.len() - 1;
            }
            (x2, dof)
        };
        let (x2, dof) = stat(joint);
        let (x2_other, _) = stat(!joint);
        let crit = chi2_crit(dof, Z);
        println!("second chunk joint={joint}: chi² = {x2:.2} ({dof} dof, critical {crit:.1}); against the other rule {x2_other:.0}");
        assert!(x2 < crit, "joint={joint}: second index must follow the conditional softmax: chi² {x2:.2} ≥ {crit:.1}");
        assert!(x2_other > crit, "the test cannot tell joint from independent selection (chi² {x2_other:.1})");
    }
}

// ---- gather ----------------------------------------------------------------------------

#[test]
fn gather_twin_and_gpu() {
    let cases: [(usize, usize, usize); 3] = [(50, 37, 23), (1000, 64, 300), (7, 1, 7)];
    let gpu_backend = gpu("gather_twin_and_gpu");
    for (src_rows, width, rows) in cases {
        let src = rand_vec(src_rows * width, src_rows as u64, 1.0);
        let idx: Vec<u32> = (0..rows).map(|k| ((k * 7919 + 3) % src_rows) as u32).collect();
        let mut out = vec![0f32; rows * width];
        select::gather_rows(&mut out, &src, &idx, rows, width);
        for k in 0..rows {
            for c in 0..width {
                assert_eq!(out[k * width + c], src[idx[k] as usize * width + c]);
            }
        }
        if let Some(g) = &gpu_backend {
            let gout = g.upload(&vec![-1.0; rows * width]);
            g.gather_rows(&gout, &g.upload(&src), &g.upload_u32(&idx), rows, width);
            let got = g.read(&gout).unwrap();
            assert_eq!(got, out, "gpu gather src_rows={src_rows} width={width} rows={rows}");
            println!("gpu gather src_rows={src_rows} width={width} rows={rows}: identical to the twin");
        }
    }
    // integer data goes through the same gather (token ids, lengths, chosen indices): small
    // values are f32 subnormals, and words that are NaNs as f32 — every word moved bit for bit
    let words: Vec<u32> = (0..64 * 5).map(|i| [i, 1, 0, 0x7fc0_0001, 0xffff_ffff][i as usize % 5]).collect();
    let idx: Vec<u32> = (0..40).map(|k| (k * 13 % 64) as u32).collect();
    let mut out = vec![0f32; 40 * 5];
    select::gather_rows(&mut out, bytemuck::cast_slice(&words), &idx, 40, 5);
    let want: Vec<u32> = idx.iter().flat_map(|&r| words[r as usize * 5..r as usize * 5 + 5].to_vec()).collect();
    assert_eq!(bytemuck::cast_slice::<f32, u32>(&out), &want[..], "twin gather of u32 words");
    if let Some(g) = &gpu_backend {
        let gout = g.upload_u32(&vec![7; 40 * 5]);
        g.gather_rows(&gout, &g.upload_u32(&words), &g.upload_u32(&idx), 40, 5);
        assert_eq!(g.read_u32(&gout).unwrap(), want, "gpu gather of u32 words (subnormals, NaN patterns) not bit for bit");
        println!("gpu gather of u32 words: bit for bit");
    }
}
