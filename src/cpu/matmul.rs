//! Twins of `shaders/matmul.wgsl`: the readable reference matmul (generic, used in tests and
//! gradient checks), a packed, register-blocked f32 matmul for the CPU backend, and bias_grad.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::thread::LocalKey;

use rayon::prelude::*;

use super::{copy_short, Real};

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

thread_local! {
    /// Packed B panels and packed rows of A, kept from call to call: a training step asks for
    /// the same sizes again and again, and fresh zeroed memory costs page faults and memsets.
    static B_PANELS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    static A_PACKED: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// `len` floats from this thread's `slot` (stale values: the packers write every one, padding
/// included), given back to the slot when dropped.
struct Scratch {
    buf: Vec<f32>,
    len: usize,
    slot: &'static LocalKey<Cell<Vec<f32>>>,
}

fn scratch(slot: &'static LocalKey<Cell<Vec<f32>>>, len: usize) -> Scratch {
    let mut buf = slot.take();
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    Scratch { buf, len, slot }
}

impl Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[..self.len]
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[..self.len]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        // keep the larger of this buffer and one a nested call may have given back meanwhile
        let _ = self.slot.try_with(|s| {
            let other = s.take();
            s.set(if other.len() > buf.len() { other } else { buf });
        });
    }
}

const MR: usize = 4; // rows of C per micro-kernel (packing A reads four rows side by side)
const NR: usize = 16; // columns of C per micro-kernel (one packed B panel)
const MB: usize = 32; // rows of C per parallel task

/// The CPU backend's matmul: same contract as `matmul`, f32, packed panels + rayon — the
/// widest build (packing, stores, tasks) with the widest micro-kernels this CPU has.
#[allow(clippy::too_many_arguments)]
pub fn matmul_fast(c: &mut [f32], a: &[f32], b: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize, ta: bool, tb: bool, acc: bool) {
    packed(select_kernel(), c, a, b, bias, m, k, n, ta, tb, acc)
}

/// `matmul_fast` built for AVX2 with the AVX2 micro-kernels, where the CPU has them (else the
/// baseline's): for tests that compare the builds.
#[allow(clippy::too_many_arguments)]
pub fn matmul_fast_avx2(c: &mut [f32], a: &[f32], b: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize, ta: bool, tb: bool, acc: bool) {
    packed_avx2(kernel_named("avx2"), c, a, b, bias, m, k, n, ta, tb, acc)
}

/// `matmul_fast` built with the target's baseline features and the plain micro-kernels.
#[allow(clippy::too_many_arguments)]
pub fn matmul_fast_plain(c: &mut [f32], a: &[f32], b: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize, ta: bool, tb: bool, acc: bool) {
    packed_plain(kernel_named("plain"), c, a, b, bias, m, k, n, ta, tb, acc)
}

widest! {
/// `matmul_fast`'s work with the given micro-kernels (one group of MR rows, two groups).
fn packed / packed_avx2 / packed_plain(kernel: (Kernel, Kernel2), c: &mut [f32], a: &[f32], b: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize, ta: bool, tb: bool, acc: bool) {
    assert!(c.len() >= m * n && a.len() >= m * k && b.len() >= k * n, "matmul_fast: buffers smaller than {m}×{k}×{n}");
    if m * n * k < 16 * 16 * 16 || k == 0 {
        return matmul(c, a, b, bias, m, k, n, ta, tb, acc);
    }
    // pack op(B) into column panels of NR: bp[panel][p][0..NR], zero-padded
    let panels = n.div_ceil(NR);
    let mut bp = scratch(&B_PANELS, panels * k * NR);
    bp.par_chunks_mut(k * NR).enumerate().for_each(|(pi, panel)| {
        let j0 = pi * NR;
        let w = NR.min(n - j0);
        for p in 0..k {
            panel[p * NR + w..(p + 1) * NR].fill(0.0);
            let dst = &mut panel[p * NR..p * NR + w];
            if tb {
                for (q, d) in dst.iter_mut().enumerate() {
                    *d = b[(j0 + q) * k + p];
                }
            } else {
                copy_short(dst, &b[p * n + j0..p * n + j0 + w]);
            }
        }
    });
    // tasks = (block of MB rows) × (group of column panels), enough of them to keep every
    // thread busy even when m is small (weight gradients have m = fan-in, k = batch·tokens)
    let row_blocks = m.div_ceil(MB);
    let want = 4 * rayon::current_num_threads();
    let groups = want.div_ceil(row_blocks).clamp(1, panels);
    let per_group = panels.div_ceil(groups);
    // op(A) packed in groups of MR rows: ap[group][p][0..MR], zero-padded. With several column
    // groups per row block, pack all of A once up front instead of once per task.
    let pack = |ap: &mut [f32], g0: usize| {
        for (gl, grp) in ap.chunks_mut(k * MR).enumerate() {
            let r0 = (g0 + gl) * MR;
            let rr = MR.min(m - r0);
            for dst in grp.chunks_exact_mut(MR) {
                dst[rr..].fill(0.0);
            }
            if ta {
                for (p, dst) in grp.chunks_exact_mut(MR).enumerate() {
                    let src = &a[p * m + r0..p * m + r0 + rr];
                    if rr == MR {
                        // four values: one vector move, not a call to memmove
                        let d: &mut [f32; MR] = dst.try_into().unwrap();
                        *d = src.try_into().unwrap();
                    } else {
                        copy_short(&mut dst[..rr], src);
                    }
                }
            } else if rr == MR {
                // the four rows read side by side, each column's four values stored as one vector
                let row = |r: usize| &a[(r0 + r) * k..(r0 + r + 1) * k];
                let rows = row(0).iter().zip(row(1)).zip(row(2)).zip(row(3));
                for (dst, (((&x0, &x1), &x2), &x3)) in grp.chunks_exact_mut(MR).zip(rows) {
                    let d: &mut [f32; MR] = dst.try_into().unwrap();
                    *d = [x0, x1, x2, x3];
                }
            } else {
                for r in 0..rr {
                    for (dst, &av) in grp.chunks_mut(MR).zip(&a[(r0 + r) * k..(r0 + r + 1) * k]) {
                        dst[r] = av;
                    }
                }
            }
        }
    };
    let shared_ap = (groups > 1).then(|| {
        let mut ap = scratch(&A_PACKED, m.div_ceil(MR) * k * MR);
        ap.par_chunks_mut(k * MR).enumerate().for_each(|(g, grp)| pack(grp, g));
        ap
    });
    let (bp, shared_ap): (&[f32], Option<&[f32]>) = (&bp, shared_ap.as_deref());
    let out = SendPtr(c.as_mut_ptr());
    (0..row_blocks * groups).into_par_iter().for_each(|task| {
        let (bi, gi) = (task / groups, task % groups);
        let i0 = bi * MB;
        let rows = MB.min(m - i0);
        let mgroups = rows.div_ceil(MR);
        let own_ap;
        let ap: &[f32] = match shared_ap {
            Some(all) => &all[i0 * k..(i0 + mgroups * MR) * k],
            None => {
                let mut buf = scratch(&A_PACKED, mgroups * k * MR);
                pack(&mut buf, i0 / MR);
                own_ap = buf;
                &own_ap
            }
        };
        let mut tile = [[0f32; NR]; 2 * MR];
        for pi in gi * per_group..((gi + 1) * per_group).min(panels) {
            let panel = &bp[pi * k * NR..(pi + 1) * k * NR];
            let j0 = pi * NR;
            let w = NR.min(n - j0);
            // two groups of MR rows at a time (twice the independent sums in flight), then
            // the odd one out alone
            let mut g = 0;
            while g < mgroups {
                let pair = g + 1 < mgroups;
                if pair {
                    kernel.1(&ap[g * k * MR..(g + 2) * k * MR], panel, k, &mut tile);
                } else {
                    let one: &mut [[f32; NR]; MR] = (&mut tile[..MR]).try_into().unwrap();
                    kernel.0(&ap[g * k * MR..(g + 1) * k * MR], panel, k, one);
                }
                let span = if pair { 2 * MR } else { MR };
                for (r, tile_row) in tile.iter().enumerate().take(span.min(rows - g * MR)) {
                    let row = i0 + g * MR + r;
                    // SAFETY: task (bi, gi) alone writes rows i0..i0+rows × its panels' columns,
                    // all inside c[..m·n]; no two tasks overlap and `c` outlives the loop.
                    let dst = unsafe { std::slice::from_raw_parts_mut(out.get().add(row * n + j0), w) };
                    store(dst, &tile_row[..w], bias.map(|b| &b[j0..j0 + w]), acc);
                }
                g += if pair { 2 } else { 1 };
            }
        }
    });
}
}

/// dst = (acc ? dst : 0) + (tile + bias): the matmul's epilogue, one loop per case so each
/// vectorises (the same operations, in the same order, as element by element).
#[inline(always)]
fn store(dst: &mut [f32], tile: &[f32], bias: Option<&[f32]>, acc: bool) {
    match (bias, acc) {
        (None, false) => copy_short(dst, tile),
        (None, true) => dst.iter_mut().zip(tile).for_each(|(d, &v)| *d += v),
        (Some(b), false) => dst.iter_mut().zip(tile).zip(b).for_each(|((d, &v), &bv)| *d = v + bv),
        (Some(b), true) => dst.iter_mut().zip(tile).zip(b).for_each(|((d, &v), &bv)| *d += v + bv),
    }
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
/// The same on two consecutive packed groups of A: ap [2][k][MR] → tile rows 0..2·MR.
type Kernel2 = fn(&[f32], &[f32], usize, &mut [[f32; NR]; 2 * MR]);

/// tile = Σ_p ap[p][..MR]ᵀ · bp[p][..NR]   (MR×NR accumulators kept in registers; each sum
/// runs over p in order, one multiply then one add — no fused multiply-add)
#[inline(always)]
fn micro(ap: &[f32], bp: &[f32], k: usize, tile: &mut [[f32; NR]; MR]) {
    let mut t = [[0f32; NR]; MR];
    for (av, bv) in ap[..k * MR].chunks_exact(MR).zip(bp[..k * NR].chunks_exact(NR)) {
        for r in 0..MR {
            for q in 0..NR {
                t[r][q] += av[r] * bv[q];
            }
        }
    }
    *tile = t;
}

/// `micro` on two groups at once, sharing each load of B: 2·MR×NR sums, every one added in the
/// same order as `micro` adds it (for register files wide enough to hold them: AVX-512)
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn micro_pair(ap: &[f32], bp: &[f32], k: usize, tile: &mut [[f32; NR]; 2 * MR]) {
    let (a0, a1) = ap[..2 * k * MR].split_at(k * MR);
    let mut t = [[0f32; NR]; 2 * MR];
    for ((x0, x1), bv) in a0.chunks_exact(MR).zip(a1.chunks_exact(MR)).zip(bp[..k * NR].chunks_exact(NR)) {
        for r in 0..MR {
            for q in 0..NR {
                t[r][q] += x0[r] * bv[q];
            }
        }
        for r in 0..MR {
            for q in 0..NR {
                t[MR + r][q] += x1[r] * bv[q];
            }
        }
    }
    *tile = t;
}

/// `micro` on each of two groups in turn (where 2·MR rows of sums would not fit in registers).
#[inline(always)]
fn micro_twice(ap: &[f32], bp: &[f32], k: usize, tile: &mut [[f32; NR]; 2 * MR], one: Kernel) {
    let (t0, t1) = tile.split_at_mut(MR);
    one(&ap[..k * MR], bp, k, t0.try_into().unwrap());
    one(&ap[k * MR..2 * k * MR], bp, k, t1.try_into().unwrap());
}

fn micro_generic(ap: &[f32], bp: &[f32], k: usize, tile: &mut [[f32; NR]; MR]) {
    micro(ap, bp, k, tile)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn micro_avx2(ap: &[f32], bp: &[f32], k: usize, tile: &mut [[f32; NR]; MR]) {
    micro(ap, bp, k, tile)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn micro_avx512(ap: &[f32], bp: &[f32], k: usize, tile: &mut [[f32; NR]; MR]) {
    micro(ap, bp, k, tile)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn micro_pair_avx512(ap: &[f32], bp: &[f32], k: usize, tile: &mut [[f32; NR]; 2 * MR]) {
    micro_pair(ap, bp, k, tile)
}

/// The micro-kernels this CPU runs (one group, two groups), widest first. Each computes the
/// same mul-then-add sums in the same order (no fused multiply-add), so results are identical
/// bit for bit whichever runs.
fn kernels() -> Vec<(&'static str, Kernel, Kernel2)> {
    let mut found: Vec<(&'static str, Kernel, Kernel2)> = vec![];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the feature the kernel is compiled for.
            found.push((
                "avx512",
                |ap, bp, k, tile| unsafe { micro_avx512(ap, bp, k, tile) },
                |ap, bp, k, tile| unsafe { micro_pair_avx512(ap, bp, k, tile) },
            ));
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            found.push((
                "avx2",
                |ap, bp, k, tile| unsafe { micro_avx2(ap, bp, k, tile) },
                |ap, bp, k, tile| micro_twice(ap, bp, k, tile, |ap, bp, k, t| unsafe { micro_avx2(ap, bp, k, t) }),
            ));
        }
    }
    found.push(("plain", micro_generic, |ap, bp, k, tile| micro_twice(ap, bp, k, tile, micro_generic)));
    found
}

/// The micro-kernels of that name where the CPU runs them, else the plain ones.
fn kernel_named(name: &str) -> (Kernel, Kernel2) {
    let all = kernels();
    let (_, one, two) = all.iter().find(|k| k.0 == name).unwrap_or(all.last().unwrap());
    (*one, *two)
}

/// The widest, found once per process.
fn select_kernel() -> (Kernel, Kernel2) {
    static CHOSEN: std::sync::OnceLock<(Kernel, Kernel2)> = std::sync::OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let (_, one, two) = kernels()[0];
        (one, two)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every micro-kernel this CPU can run, on one group of rows and on two, gives the plain
    /// one's tile bit for bit (k odd, so no unrolling hides a remainder), so a result never
    /// depends on the machine's vector width.
    #[test]
    fn micro_kernels_agree_bit_for_bit() {
        let k = 37;
        let ap: Vec<f32> = (0..2 * k * MR).map(|i| ((i * 7919) % 1000) as f32 / 997.0 - 0.5).collect();
        let bp: Vec<f32> = (0..k * NR).map(|i| ((i * 104729) % 1000) as f32 / 991.0 - 0.5).collect();
        let mut want = [[0f32; NR]; 2 * MR];
        for (g, rows) in want.chunks_exact_mut(MR).enumerate() {
            let mut one = [[0f32; NR]; MR];
            micro_generic(&ap[g * k * MR..(g + 1) * k * MR], &bp, k, &mut one);
            rows.copy_from_slice(&one);
        }
        let bits = |t: &[[f32; NR]]| t.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (name, one, two) in kernels() {
            let mut got = [[1f32; NR]; MR];
            one(&ap[..k * MR], &bp, k, &mut got);
            assert_eq!(bits(&got), bits(&want[..MR]), "micro-kernel {name} differs from the plain one");
            let mut got2 = [[1f32; NR]; 2 * MR];
            two(&ap, &bp, k, &mut got2);
            assert_eq!(bits(&got2), bits(&want), "two-group micro-kernel {name} differs from the plain one");
            println!("micro-kernel {name}: one and two groups equal to the plain one bit for bit");
        }
    }
}
