//! Dispatch of `shaders/matmul.wgsl`.

use super::context::{groups_1d, shader, GpuContext, Shader};
use super::GpuBuf;

pub const SRC: Shader = shader!("matmul.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    k: u32,
    n: u32,
    flags: u32,
    /// split-K: k per slice (0: no split)
    kc: u32,
    _p: [u32; 3],
}

/// Workgroups a split dispatch aims for (a few per compute unit of a large GPU). A threshold
/// of 32 workgroups, above which nothing split, left `large`'s MLP weight gradients (36 tiles
/// over 16,640 rows) whole and took its H200 step from 76 to 108 ms: the length of each
/// workgroup's sum matters as much as their number.
const TARGET_GROUPS: usize = 256;
/// Fewest k (rows) a slice of a split sum takes, so each workgroup still has work to amortise.
const MIN_SLICE: usize = 128;

/// Slices for a sum of `k` terms in each of `groups` workgroups: 1 (no split) when the
/// workgroups reach TARGET_GROUPS alone or k is short; else at most TARGET_GROUPS workgroups in
/// all, slices of `len` ≥ MIN_SLICE terms (a multiple of `unit`; the last one holds what is
/// left, never nothing). Returns (slices, len).
pub fn split(groups: usize, k: usize, unit: usize) -> (usize, usize) {
    let want = (TARGET_GROUPS / groups.max(1)).min(k / MIN_SLICE);
    if want < 2 {
        return (1, k);
    }
    let len = k.div_ceil(want).div_ceil(unit) * unit;
    (k.div_ceil(len), len)
}

/// c[m,n] = (acc ? c : 0) + op(a)·op(b) + bias  — see `Backend::matmul`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(ctx: &GpuContext, c: &GpuBuf, a: &GpuBuf, b: &GpuBuf, bias: Option<&GpuBuf>, m: usize, k: usize, n: usize, ta: bool, tb: bool, acc: bool) {
    let entry = match (ta, tb) {
        (false, false) => "matmul_nn",
        (false, true) => "matmul_nt",
        (true, false) => "matmul_tn",
        (true, true) => "matmul_tt",
    };
    if m == 0 || n == 0 {
        return;
    }
    let flags = acc as u32 | ((bias.is_some() as u32) << 1);
    let tiles = n.div_ceil(64) * m.div_ceil(64);
    let (slices, kc) = if ctx.split_sums() { split(tiles, k, 16) } else { (1, k) };
    if slices > 1 && bias.is_none() {
        // split-K into scratch slices, then their ordered sum into c
        let part = ctx.scratch(slices * m * n);
        let p = Params { m: m as u32, k: k as u32, n: n as u32, flags: 0, kc: kc as u32, _p: [0; 3] };
        let groups = [n.div_ceil(64) as u32, m.div_ceil(64) as u32, slices as u32];
        ctx.dispatch(&SRC, entry, bytemuck::bytes_of(&p), &[&part, a, b, a], groups);
        return split_reduce(ctx, c, &part, m * n, slices, acc);
    }
    let p = Params { m: m as u32, k: k as u32, n: n as u32, flags, kc: 0, _p: [0; 3] };
    // without a bias, `a` stands in (read-only like the bias, never read as one: flags say so),
    // which keeps the bind group layout the same and allocates nothing
    let bias_buf = bias.unwrap_or(a);
    // one workgroup per 64×64 block of C
    let groups = [n.div_ceil(64) as u32, m.div_ceil(64) as u32, 1];
    ctx.dispatch(&SRC, entry, bytemuck::bytes_of(&p), &[c, a, b, bias_buf], groups);
}

/// c[i] = (acc ? c[i] : 0) + Σ_{z < slices} part[z·len + i]   (i < len)
pub fn split_reduce(ctx: &GpuContext, c: &GpuBuf, part: &GpuBuf, len: usize, slices: usize, acc: bool) {
    let p = Params { m: 1, k: slices as u32, n: len as u32, flags: acc as u32, kc: 0, _p: [0; 3] };
    ctx.dispatch(&SRC, "split_reduce", bytemuck::bytes_of(&p), &[c, part], groups_1d(len, 256));
}

/// db[n] += Σ_rows dy[m,n] — one invocation per column, or, for many rows over few columns,
/// the rows split into slices summed into scratch and then added up by `split_reduce`.
pub fn bias_grad(ctx: &GpuContext, db: &GpuBuf, dy: &GpuBuf, m: usize, n: usize) {
    if n == 0 {
        return;
    }
    let (slices, rc) = if ctx.split_sums() { split(n.div_ceil(64), m, 1) } else { (1, m) };
    if slices > 1 {
        let part = ctx.scratch(slices * n);
        let p = [m as u32, n as u32, rc as u32, 0];
        ctx.dispatch(&SRC, "bias_grad", bytemuck::cast_slice(&p), &[&part, dy], [n.div_ceil(64) as u32, slices as u32, 1]);
        return split_reduce(ctx, db, &part, n, slices, true);
    }
    let p = [m as u32, n as u32, 0, 0];
    ctx.dispatch(&SRC, "bias_grad", bytemuck::cast_slice(&p), &[db, dy], [n.div_ceil(64) as u32, 1, 1]);
}
