//! Dispatch of the JEST selection kernels: `scores.wgsl` (fused score matrix), `sampler.wgsl`
//! (joint example selection, `rng_core.wgsl` prepended) and `gather.wgsl` (row gather).

use super::context::{groups_1d, shader, GpuContext, Shader};
use super::GpuBuf;
use crate::backend::ScoreMode;

pub const SCORES: Shader = shader!("scores.wgsl");
pub const SAMPLER: Shader = shader!("rng_core.wgsl", "sampler.wgsl");
pub const GATHER: Shader = shader!("gather.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ScoreParams {
    bsz: u32,
    d: u32,
    mode: u32,
    gain: f32,
}

/// A [B,B] from u_l, v_l, u_r, v_r [B,d] and tb_l, tb_r [2] — see `Backend::score_matrix`.
/// 16×16 invocations per workgroup, one per (i, j); grid ⌈B/16⌉ × ⌈B/16⌉.
#[allow(clippy::too_many_arguments)]
pub fn score_matrix(
    ctx: &GpuContext,
    a: &GpuBuf,
    u_l: &GpuBuf,
    v_l: &GpuBuf,
    tb_l: &GpuBuf,
    u_r: &GpuBuf,
    v_r: &GpuBuf,
    tb_r: &GpuBuf,
    bsz: usize,
    d: usize,
    mode: ScoreMode,
    gain: f32,
) {
    if bsz == 0 {
        return;
    }
    assert!(a.len >= bsz * bsz, "score_matrix: A holds {} words, needs {bsz}×{bsz}", a.len);
    for (name, x) in [("u_l", u_l), ("v_l", v_l), ("u_r", u_r), ("v_r", v_r)] {
        assert!(x.len >= bsz * d, "score_matrix: {name} holds {} words, needs {bsz}×{d}", x.len);
    }
    assert!(tb_l.len >= 2 && tb_r.len >= 2, "score_matrix: tb_l, tb_r need 2 words");
    let tiles = bsz.div_ceil(16);
    // B ≤ 1,048,560 keeps both grid dimensions ≤ 65,535 (A alone would then be 4 TiB)
    assert!(tiles <= 65_535, "score_matrix: B = {bsz} is beyond one dispatch grid");
    let p = ScoreParams { bsz: bsz as u32, d: d as u32, mode: mode as u32, gain };
    ctx.dispatch(
        &SCORES,
        "score_matrix",
        bytemuck::bytes_of(&p),
        &[a, u_l, v_l, tb_l, u_r, v_r, tb_r],
        [tiles as u32, tiles as u32, 1],
    );
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SampleParams {
    bsz: u32,
    b: u32,
    m: u32,
    chunks: u32,
    joint: u32,
    seed: u32,
    step: u32,
    _p0: u32,
}

/// idx u32 [b] ← joint example selection over A [B,B]; sums [2·B] scratch — see
/// `Backend::joint_sample`. One workgroup of 256 invocations, one dispatch.
#[allow(clippy::too_many_arguments)]
pub fn joint_sample(
    ctx: &GpuContext,
    idx: &GpuBuf,
    a: &GpuBuf,
    sums: &GpuBuf,
    bsz: usize,
    b: usize,
    chunks: usize,
    joint: bool,
    seed: u32,
    step: u32,
) {
    assert!(chunks > 0 && b.is_multiple_of(chunks), "joint_sample: b = {b} is not a multiple of chunks = {chunks}");
    assert!(b <= bsz, "joint_sample: b = {b} exceeds the super-batch B = {bsz}");
    if b == 0 {
        return;
    }
    assert!(idx.len >= b, "joint_sample: idx holds {} words, needs {b}", idx.len);
    assert!(a.len >= bsz * bsz, "joint_sample: A holds {} words, needs {bsz}×{bsz}", a.len);
    assert!(sums.len >= 2 * bsz, "joint_sample: sums holds {} words, needs 2·{bsz}", sums.len);
    let p = SampleParams {
        bsz: bsz as u32,
        b: b as u32,
        m: (b / chunks) as u32,
        chunks: chunks as u32,
        joint: joint as u32,
        seed,
        step,
        _p0: 0,
    };
    ctx.dispatch(&SAMPLER, "joint_sample", bytemuck::bytes_of(&p), &[idx, a, sums], [1, 1, 1]);
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherParams {
    rows: u32,
    width: u32,
    _p: [u32; 2],
}

/// out [rows, width] ← src[idx[k], :] with idx u32 [rows] — see `Backend::gather_rows`.
pub fn gather_rows(ctx: &GpuContext, out: &GpuBuf, src: &GpuBuf, idx: &GpuBuf, rows: usize, width: usize) {
    let n = rows * width;
    if n == 0 {
        return;
    }
    assert!(out.len >= n, "gather_rows: out holds {} words, needs {rows}×{width}", out.len);
    assert!(idx.len >= rows, "gather_rows: idx holds {} words, needs {rows}", idx.len);
    let p = GatherParams { rows: rows as u32, width: width as u32, _p: [0; 2] };
    ctx.dispatch(&GATHER, "gather_rows", bytemuck::bytes_of(&p), &[out, src, idx], groups_1d(n, 256));
}
