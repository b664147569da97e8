//! matmul and bias_grad: GPU vs twin, fast CPU vs reference, on awkward sizes; gradient check.
mod common;
use common::*;
use jest_wgpu::backend::Backend;
use jest_wgpu::cpu::matmul;

const SIZES: &[(usize, usize, usize)] = &[(1, 1, 1), (3, 5, 7), (17, 33, 65), (64, 64, 64), (70, 129, 33), (130, 7, 257)];

#[allow(clippy::too_many_arguments)]
fn reference(a: &[f32], b: &[f32], bias: Option<&[f32]>, c0: &[f32], m: usize, k: usize, n: usize, ta: bool, tb: bool, acc: bool) -> Vec<f32> {
    let mut c = c0.to_vec();
    matmul::matmul(&mut c, a, b, bias, m, k, n, ta, tb, acc);
    c
}

type Matmul = fn(&mut [f32], &[f32], &[f32], Option<&[f32]>, usize, usize, usize, bool, bool, bool);

/// The fast CPU matmul sums each product in the twin's order, multiply then add (no fused
/// multiply-add), in every build (AVX-512, AVX2, plain; each with its own micro-kernels): equal
/// bit for bit. With one thread a tall A is packed task by task; with more threads than row
/// blocks, A is packed once and shared by the tasks that split C's columns — both paths, every
/// transpose, bias and acc.
#[test]
fn fast_cpu_matmul_matches_reference() {
    let tall: &[(usize, usize, usize)] = &[(300, 37, 45), (261, 64, 192)];
    for (threads, sizes) in [(2, SIZES), (1, tall), (8, tall)] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for &(m, k, n) in sizes {
            for ta in [false, true] {
                for tb in [false, true] {
                    for (acc, with_bias) in [(false, false), (true, true), (false, true), (true, false)] {
                        let a = rand_vec(m * k, 1, 1.0);
                        let b = rand_vec(k * n, 2, 1.0);
                        let bias = rand_vec(n, 3, 1.0);
                        let c0 = rand_vec(m * n, 4, 1.0);
                        let want = reference(&a, &b, with_bias.then_some(&bias[..]), &c0, m, k, n, ta, tb, acc);
                        // every build: the widest this CPU has, AVX2 (or the baseline without it), the baseline
                        let builds: [(&str, Matmul); 3] = [("widest", matmul::matmul_fast), ("avx2", matmul::matmul_fast_avx2), ("plain", matmul::matmul_fast_plain)];
                        for (build, f) in builds {
                            let mut got = c0.clone();
                            pool.install(|| f(&mut got, &a, &b, with_bias.then_some(&bias[..]), m, k, n, ta, tb, acc));
                            let what = format!("cpu matmul ({build}) {m}x{k}x{n} ta={ta} tb={tb} acc={acc} bias={with_bias} threads={threads}");
                            assert_close(&what, &got, &want, 0.0, 0.0);
                            assert_same_bits(&what, &got, &want);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn gpu_matmul_matches_twin() {
    let Some(g) = gpu("gpu_matmul_matches_twin") else { return };
    for &(m, k, n) in SIZES {
        for (ta, tb, acc, with_bias) in [(false, false, false, true), (true, false, true, false), (false, true, true, true), (true, true, false, false)] {
            let a = rand_vec(m * k, 5, 1.0);
            let b = rand_vec(k * n, 6, 1.0);
            let bias = rand_vec(n, 7, 1.0);
            let c0 = rand_vec(m * n, 8, 1.0);
            let want = reference(&a, &b, with_bias.then_some(&bias[..]), &c0, m, k, n, ta, tb, acc);
            let (ga, gb, gbias, gc) = (g.upload(&a), g.upload(&b), g.upload(&bias), g.upload(&c0));
            g.matmul(&gc, &ga, &gb, with_bias.then_some(&gbias), m, k, n, ta, tb, acc);
            let got = g.read(&gc).unwrap();
            assert_close(&format!("gpu matmul {m}x{k}x{n} ta={ta} tb={tb} acc={acc}"), &got, &want, 1e-4, 1e-4);
        }
    }
}

/// Few tiles of C over a long k (weight gradients) take the split-K path: k in slices summed
/// into scratch, then added up in order — the same result as the twin's, with and without
/// accumulating into C, for every transpose.
#[test]
fn gpu_split_k_matmul_matches_twin() {
    let Some(g) = gpu("gpu_split_k_matmul_matches_twin") else { return };
    g.ctx.set_split_sums(true); // (software adapters do not split by default)
    for &(m, k, n) in &[(70usize, 3001usize, 65usize), (5, 1000, 3), (130, 257, 9), (64, 4160, 192)] {
        let (slices, kc) = jest_wgpu::gpu::matmul::split(n.div_ceil(64) * m.div_ceil(64), k, 16);
        assert!(slices > 1, "{m}x{k}x{n} should split");
        println!("{m}x{k}x{n}: {slices} slices of k {kc}");
        for (ta, tb, acc) in [(false, false, true), (true, false, false), (true, false, true), (false, true, false), (true, true, true)] {
            let a = rand_vec(m * k, 15, 1.0);
            let b = rand_vec(k * n, 16, 1.0);
            let c0 = rand_vec(m * n, 17, 1.0);
            let want = reference(&a, &b, None, &c0, m, k, n, ta, tb, acc);
            let gc = g.upload(&c0);
            g.matmul(&gc, &g.upload(&a), &g.upload(&b), None, m, k, n, ta, tb, acc);
            assert_close(&format!("gpu split-K matmul {m}x{k}x{n} ta={ta} tb={tb} acc={acc}"), &g.read(&gc).unwrap(), &want, 1e-3, 1e-4);
        }
    }
}

#[test]
fn gpu_bias_grad_matches_twin() {
    let Some(g) = gpu("gpu_bias_grad_matches_twin") else { return };
    // split: the last three split their rows over workgroups (see `gpu::matmul::split`)
    for (split, &(m, n)) in [false, true].into_iter().flat_map(|s| [(1, 1), (7, 65), (300, 33), (4160, 64), (1000, 193)].iter().map(move |x| (s, x))) {
        g.ctx.set_split_sums(split);
        let dy = rand_vec(m * n, 9, 1.0);
        let db0 = rand_vec(n, 10, 1.0);
        let mut want = db0.clone();
        matmul::bias_grad(&mut want, &dy, m, n);
        let gdb = g.upload(&db0);
        g.bias_grad(&gdb, &g.upload(&dy), m, n);
        assert_close(&format!("gpu bias_grad {m}x{n} split={split}"), &g.read(&gdb).unwrap(), &want, 1e-4, 1e-5);
    }
}

/// Backward of c = a·b + bias is three calls of the forward kernel (dA = dC·Bᵀ, dB = Aᵀ·dC,
/// dbias = Σ dC): checked against f64 central differences of L = Σ c·w.
#[test]
fn matmul_backward_matches_finite_differences() {
    let (m, k, n) = (5, 7, 3);
    let a = to64(&rand_vec(m * k, 11, 1.0));
    let b = to64(&rand_vec(k * n, 12, 1.0));
    let bias = to64(&rand_vec(n, 13, 1.0));
    let w = to64(&rand_vec(m * n, 14, 1.0)); // dL/dc
    let fwd = |a: &[f64], b: &[f64], bias: &[f64]| {
        let mut c = vec![0.0; m * n];
        matmul::matmul(&mut c, a, b, Some(bias), m, k, n, false, false, false);
        c.iter().zip(&w).map(|(x, y)| x * y).sum::<f64>()
    };
    let mut da = vec![0.0; m * k];
    matmul::matmul(&mut da, &w, &b, None, m, n, k, false, true, false);
    let mut db = vec![0.0; k * n];
    matmul::matmul(&mut db, &a, &w, None, k, m, n, true, false, false);
    let mut dbias = vec![0.0; n];
    matmul::bias_grad(&mut dbias, &w, m, n);
    check_grad("matmul dA", &a, &da, |x| fwd(x, &b, &bias));
    check_grad("matmul dB", &b, &db, |x| fwd(&a, x, &bias));
    check_grad("matmul dbias", &bias, &dbias, |x| fwd(&a, &b, x));
}
