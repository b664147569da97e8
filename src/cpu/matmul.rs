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
const MB: usize = 32; // rows of C per parallel task

/// The CPU backend's matmul: same contract as `matmul`, f32, packed panels + rayon.
#[allow(clippy::too_many_arguments)]
pub fn matmul_fast(c: &mut [f32], a: &[f32], b: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize, ta: bool, tb: bool, acc: bool) {
    assert!(c.len() >= m * n && a.len() >= m * k && b.len() >= k * n, "matmul_fast: buffers smaller than {m}×{k}×{n}");
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
    // tasks = (block of MB rows) × (group of column panels), enough of them to keep every
    // thread busy even when m is small (weight gradients have m = fan-in, k = batch·tokens)
    let row_blocks = m.div_ceil(MB);
    let want = 4 * rayon::current_num_threads();
    let groups = want.div_ceil(row_blocks).clamp(1, panels);
    let per_group = panels.div_ceil(groups);
    let out = SendPtr(c.as_mut_ptr());
    (0..row_blocks * groups).into_par_iter().for_each(|task| {
        let (bi, gi) = (task / groups, task % groups);
        let i0 = bi * MB;
        let rows = MB.min(m - i0);
        let mgroups = rows.div_ceil(MR);
        // pack op(A) rows of this block: ap[group][p][0..MR]
        let mut ap = vec![0f32; mgroups * k * MR];
        for g in 0..mgroups {
            for r in 0..MR.min(rows - g * MR) {
                let i = i0 + g * MR + r;
                for p in 0..k {
                    ap[(g * k + p) * MR + r] = if ta { a[p * m + i] } else { a[i * k + p] };
                }
            }
        }
        let mut tile = [[0f32; NR]; MR];
        for pi in gi * per_group..((gi + 1) * per_group).min(panels) {
            let panel = &bp[pi * k * NR..(pi + 1) * k * NR];
            let j0 = pi * NR;
            let w = NR.min(n - j0);
            for g in 0..mgroups {
                kernel(&ap[g * k * MR..(g + 1) * k * MR], panel, k, &mut tile);
                for (r, tile_row) in tile.iter().enumerate().take(MR.min(rows - g * MR)) {
                    let row = i0 + g * MR + r;
                    // SAFETY: task (bi, gi) alone writes rows i0..i0+rows × its panels' columns,
                    // all inside c[..m·n]; no two tasks overlap and `c` outlives the loop.
                    let dst = unsafe { std::slice::from_raw_parts_mut(out.get().add(row * n + j0), w) };
                    for q in 0..w {
                        let mut v = tile_row[q];
                        if let Some(bias) = bias {
                            v += bias[j0 + q];
                        }
                        dst[q] = if acc { dst[q] + v } else { v };
                    }
                }
            }
        }
    });
}

/// A raw output pointer shared by tasks that write disjoint regions.
struct SendPtr(*mut f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(&self) -> *mut f32 {
        self.0
    }
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
