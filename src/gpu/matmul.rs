//! Dispatch of `shaders/matmul.wgsl`.

use super::context::{shader, GpuContext, Shader};
use super::GpuBuf;

pub const SRC: Shader = shader!("matmul.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    k: u32,
    n: u32,
    flags: u32,
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
    let flags = acc as u32 | ((bias.is_some() as u32) << 1);
    let p = Params { m: m as u32, k: k as u32, n: n as u32, flags };
    // a 1-word stand-in keeps the bind group layout identical when there is no bias
    let dummy;
    let bias_buf = match bias {
        Some(b) => &b.buf,
        None => {
            dummy = ctx.storage(1, "no-bias");
            &dummy
        }
    };
    // one workgroup per 64×64 block of C
    let groups = [n.div_ceil(64) as u32, m.div_ceil(64) as u32, 1];
    ctx.dispatch(&SRC, entry, bytemuck::bytes_of(&p), &[&c.buf, &a.buf, &b.buf, bias_buf], groups);
}

/// db[n] += Σ_rows dy[m,n]
pub fn bias_grad(ctx: &GpuContext, db: &GpuBuf, dy: &GpuBuf, m: usize, n: usize) {
    let p = [m as u32, n as u32, 0, 0];
    ctx.dispatch(&SRC, "bias_grad", bytemuck::cast_slice(&p), &[&db.buf, &dy.buf], [n.div_ceil(64) as u32, 1, 1]);
}
