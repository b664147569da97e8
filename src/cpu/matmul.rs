//! Twins of `shaders/matmul.wgsl`: the readable reference matmul (generic, used in tests and
//! gradient checks), a packed, register-blocked f32 matmul for the CPU backend, and bias_grad.

use rayon::prelude::*;

use super::Real;

/// c[m,n] = (acc ? c : 0) + op(a)·op(b) + bias[n]       (reference: three loops)
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: Real>(c: &mut [T], a: &[T], b: &[T], bias: Option<&[T]>, m: usize, k: usize, n: usize, ta: bool, tb: bool, acc: bool) {
    for i in 0..m {
        for j in 0..n {
            let mut s = T::zero();
            for p in 0..k {
                let av = if ta { a[p * m + i] } else { a[i * k + p] };
                let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                s = s + av * bv;
            }
            if let Some(bias) = bias {
                s = s + bias[j];
            }
            c[i * n + j] = if acc { c[i * n + j] + s } else { s };
        }
    }
}

/// db[n] += Σ_rows dy[m,n]
pub fn bias_grad<T: Real>(db: &mut [T], dy: &[T], m: usize, n: usize) {
    for i in 0..m {
        for j in 0..n {
            db[j] = db[j] + dy[i * n + j];
        }
    }
}

const MR: usize = 4; // rows of C per micro-kernel
const NR: usize = 16; // columns of C per micro-kernel (one packed B panel)
const MB: usize = 64; // rows of C per parallel task

/// The CPU backend's matmul: same contract as `matmul`, f32, packed panels + rayon.
#[allow(clippy::too_many_arguments)]
pub fn matmul_fast(c: &mut [f32], a: &[f32], b: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize, ta: bool, tb: bool, acc: bool) {
    if m * n * k < 16 * 16 * 16 || k == 0 {
        return matmul(c, a, b, bias, m, k, n, ta, tb, acc);
    }
    // pack op(B) into column panels of NR: bp[panel][p][0..NR], zero-padded
    let panels = n.div_ceil(NR);
    let mut bp = vec![0f32; panels * k * NR];
    bp.par_chunks_mut(k * NR).enumerate().for_each(|(pi, panel)| {
        let j0 = pi * NR;
        let w = NR.min(n - j0);
        for p in 0..k {
            let dst = &mut panel[p * NR..p * NR + w];
            if tb {
                for (q, d) in dst.iter_mut().enumerate() {
                    *d = b[(j0 + q) * k + p];
                }
            } else {
                dst.copy_from_slice(&b[p * n + j0..p * n + j0 + w]);
            }
        }
    });
    let kernel = select_kernel();
    c[..m * n].par_chunks_mut(MB * n).enumerate().for_each(|(bi, cblock)| {
        let i0 = bi * MB;
        let rows = cblock.len() / n;
        let groups = rows.div_ceil(MR);
        // pack op(A) rows of this block: ap[group][p][0..MR]
        let mut ap = vec![0f32; groups * k * MR];
        for g in 0..groups {
            for r in 0..MR.min(rows - g * MR) {
                let i = i0 + g * MR + r;
                for p in 0..k {
                    ap[(g * k + p) * MR + r] = if ta { a[p * m + i] } else { a[i * k + p] };
                }
            }
        }
        let mut tile = [[0f32; NR]; MR];
        for pi in 0..panels {
            let panel = &bp[pi * k * NR..(pi + 1) * k * NR];
            let j0 = pi * NR;
            let w = NR.min(n - j0);
            for g in 0..groups {
                kernel(&ap[g * k * MR..(g + 1) * k * MR], panel, k, &mut tile);
                for r in 0..MR.min(rows - g * MR) {
                    let row = &mut cblock[(g * MR + r) * n + j0..(g * MR + r) * n + j0 + w];
                    for q in 0..w {
                        let mut v = tile[r][q];
                        if let Some(bias) = bias {
                            v += bias[j0 + q];
                        }
                        row[q] = if acc { row[q] + v } else { v };
                    }
                }
            }
        }
    });
}

type Kernel = fn(&[f32], &[f32], usize, &mut [[f32; NR]; MR]);

/// tile = Σ_p ap[p][..MR]ᵀ · bp[p][..NR]   (MR×NR accumulators kept in registers)
#[inline(always)]
fn micro(ap: &[f32], bp: &[f32], k: usize, tile: &mut [[f32; NR]; MR]) {
    let mut t = [[0f32; NR]; MR];
    for p in 0..k {
        let av: &[f32; MR] = ap[p * MR..p * MR + MR].try_into().unwrap();
        let bv: &[f32; NR] = bp[p * NR..p * NR + NR].try_into().unwrap();
        for r in 0..MR {
            for q in 0..NR {
                t[r][q] += av[r] * bv[q];
            }
        }
    }
    *tile = t;
}

fn micro_generic(ap: &[f32], bp: &[f32], k: usize, tile: &mut [[f32; NR]; MR]) {
    micro(ap, bp, k, tile)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn micro_avx2_impl(ap: &[f32], bp: &[f32], k: usize, tile: &mut [[f32; NR]; MR]) {
    micro(ap, bp, k, tile)
}

#[cfg(target_arch = "x86_64")]
fn micro_avx2(ap: &[f32], bp: &[f32], k: usize, tile: &mut [[f32; NR]; MR]) {
    // SAFETY: only selected after `is_x86_feature_detected!("avx2")` and `("fma")`.
    unsafe { micro_avx2_impl(ap, bp, k, tile) }
}

fn select_kernel() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        return micro_avx2;
    }
    micro_generic
}
