//! Dispatch of `shaders/norm.wgsl`: LayerNorm and L2 normalisation, forward and backward.

use super::context::{groups_1d, shader, GpuContext, Shader};
use super::GpuBuf;

pub const SRC: Shader = shader!("norm.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    _p: [u32; 2],
}

fn params(rows: usize, cols: usize) -> Params {
    Params { rows: rows as u32, cols: cols as u32, _p: [0; 2] }
}

/// One invocation per row, 64 rows per workgroup.
fn run_rows(ctx: &GpuContext, entry: &'static str, rows: usize, cols: usize, bufs: &[&GpuBuf]) {
    if rows == 0 || cols == 0 {
        return;
    }
    ctx.dispatch(&SRC, entry, bytemuck::bytes_of(&params(rows, cols)), bufs, groups_1d(rows, 64));
}

/// out, x [rows, cols]; mean, rstd [rows]; w, b [cols] — see `Backend::layernorm_fwd`.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_fwd(ctx: &GpuContext, out: &GpuBuf, mean: &GpuBuf, rstd: &GpuBuf, x: &GpuBuf, w: &GpuBuf, b: &GpuBuf, rows: usize, cols: usize) {
    run_rows(ctx, "layernorm_fwd", rows, cols, &[out, mean, rstd, x, w, b]);
}

/// dx, dy, x [rows, cols]; mean, rstd [rows]; dw, db, w [cols]; all gradients accumulate.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_bwd(
    ctx: &GpuContext,
    dx: &GpuBuf,
    dw: &GpuBuf,
    db: &GpuBuf,
    dy: &GpuBuf,
    x: &GpuBuf,
    mean: &GpuBuf,
    rstd: &GpuBuf,
    w: &GpuBuf,
    rows: usize,
    cols: usize,
) {
    run_rows(ctx, "layernorm_bwd_dx", rows, cols, &[dx, dy, x, mean, rstd, w]);
    if rows == 0 || cols == 0 {
        return;
    }
    // one workgroup per column
    ctx.dispatch(
        &SRC,
        "layernorm_bwd_wb",
        bytemuck::bytes_of(&params(rows, cols)),
        &[dw, db, dy, x, mean, rstd],
        groups_1d(cols, 1),
    );
}

/// out, x [rows, cols]; norm [rows]
pub fn l2norm_fwd(ctx: &GpuContext, out: &GpuBuf, norm: &GpuBuf, x: &GpuBuf, rows: usize, cols: usize) {
    run_rows(ctx, "l2norm_fwd", rows, cols, &[out, norm, x]);
}

/// dx, dout, out [rows, cols]; norm [rows]; dx accumulates.
pub fn l2norm_bwd(ctx: &GpuContext, dx: &GpuBuf, dout: &GpuBuf, out: &GpuBuf, norm: &GpuBuf, rows: usize, cols: usize) {
    run_rows(ctx, "l2norm_bwd", rows, cols, &[dx, dout, out, norm]);
}
