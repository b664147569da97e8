//! A pre-LayerNorm transformer block, forward and backward side by side (llm.c style):
//!   h = LN1(x);  qkv = h·Wqkv + bqkv;  a = attention(qkv);  x2 = x + a·Wproj + bproj
//!   g = LN2(x2); f = gelu(g·W1 + b1);  y = x2 + f·W2 + b2
//! Shapes: x, h, a, x2, g, y [n,t,c]; qkv [n,t,3c]; att [n,heads,t,t]; fc1, f [n,t,F].

use crate::backend::Backend;
use crate::model::params::{Init, ParamSet, ParamSpecs};

/// Parameter indices of one block in its `ParamSet`.
#[derive(Clone, Debug)]
pub struct BlockParams {
    pub ln1_w: usize,
    pub ln1_b: usize,
    pub qkv_w: usize,
    pub qkv_b: usize,
    pub proj_w: usize,
    pub proj_b: usize,
    pub ln2_w: usize,
    pub ln2_b: usize,
    pub fc1_w: usize,
    pub fc1_b: usize,
    pub fc2_w: usize,
    pub fc2_b: usize,
}

/// Sizes shared by every block of a tower.
#[derive(Clone, Copy, Debug)]
pub struct BlockDims {
    pub n: usize,
    pub t: usize,
    pub c: usize,
    pub heads: usize,
    pub hidden: usize,
}

impl BlockParams {
    /// Register one block's tensors: GPT-2 style init (std 0.02; residual projections scaled
    /// by 1/sqrt(2·depth)).
    pub fn new(ps: &mut ParamSpecs, prefix: &str, c: usize, hidden: usize, depth: usize) -> BlockParams {
        let std = 0.02;
        let res_std = 0.02 / (2.0 * depth as f32).sqrt();
        let mut add = |name: &str, shape: &[usize], init: Init| ps.add(format!("{prefix}.{name}"), shape, init);
        BlockParams {
            ln1_w: add("ln1.weight", &[c], Init::Ones),
            ln1_b: add("ln1.bias", &[c], Init::Zeros),
            qkv_w: add("attn.qkv.weight", &[c, 3 * c], Init::Normal(std)),
            qkv_b: add("attn.qkv.bias", &[3 * c], Init::Zeros),
            proj_w: add("attn.proj.weight", &[c, c], Init::Normal(res_std)),
            proj_b: add("attn.proj.bias", &[c], Init::Zeros),
            ln2_w: add("ln2.weight", &[c], Init::Ones),
            ln2_b: add("ln2.bias", &[c], Init::Zeros),
            fc1_w: add("mlp.fc1.weight", &[c, hidden], Init::Normal(std)),
            fc1_b: add("mlp.fc1.bias", &[hidden], Init::Zeros),
            fc2_w: add("mlp.fc2.weight", &[hidden, c], Init::Normal(res_std)),
            fc2_b: add("mlp.fc2.bias", &[c], Init::Zeros),
        }
    }
}

/// Saved activations of one block for one batch size (n examples of t tokens, width c).
pub struct BlockActs<B: Backend> {
    /// LayerNorm 1 of the input x [n·t, c], its mean and 1/std [n·t]
    pub h: B::Buf,
    pub ln1_mean: B::Buf,
    pub ln1_rstd: B::Buf,
    /// q, k, v of each token [n·t, 3c]
    pub qkv: B::Buf,
    /// attention probabilities [n, heads, t, t]
    pub att: B::Buf,
    /// attention output, before the projection [n·t, c]
    pub a: B::Buf,
    /// x + proj(a), the residual after attention [n·t, c]
    pub x2: B::Buf,
    /// LayerNorm 2 of x2 [n·t, c], its mean and 1/std [n·t]
    pub g: B::Buf,
    pub ln2_mean: B::Buf,
    pub ln2_rstd: B::Buf,
    /// fc1(g) and gelu of it [n·t, hidden]
    pub fc1: B::Buf,
    pub f: B::Buf,
    /// the block's output x2 + fc2(f) [n·t, c]
    pub y: B::Buf,
}

impl<B: Backend> BlockActs<B> {
    /// Every buffer, each laid out example-major ([n, …]): what the backward reads.
    pub fn per_example(&self) -> [&B::Buf; 13] {
        [&self.h, &self.ln1_mean, &self.ln1_rstd, &self.qkv, &self.att, &self.a, &self.x2, &self.g, &self.ln2_mean, &self.ln2_rstd, &self.fc1, &self.f, &self.y]
    }

    pub fn new(be: &B, d: BlockDims) -> Self {
        let nt = d.n * d.t;
        BlockActs {
            h: be.zeros(nt * d.c),
            ln1_mean: be.zeros(nt),
            ln1_rstd: be.zeros(nt),
            qkv: be.zeros(nt * 3 * d.c),
            att: be.zeros(d.n * d.heads * d.t * d.t),
            a: be.zeros(nt * d.c),
            x2: be.zeros(nt * d.c),
            g: be.zeros(nt * d.c),
            ln2_mean: be.zeros(nt),
            ln2_rstd: be.zeros(nt),
            fc1: be.zeros(nt * d.hidden),
            f: be.zeros(nt * d.hidden),
            y: be.zeros(nt * d.c),
        }
    }
}

/// Gradient scratch shared by the blocks of a tower (same batch size): each the gradient of the
/// `BlockActs` buffer of the same name, with its shape ([n·t, c], [n·t, 3c], [n, heads, t, t] or
/// [n·t, hidden]).
pub struct BlockScratch<B: Backend> {
    pub dh: B::Buf,
    pub dqkv: B::Buf,
    pub datt: B::Buf,
    pub da: B::Buf,
    pub dx2: B::Buf,
    pub dg: B::Buf,
    pub dfc1: B::Buf,
    pub df: B::Buf,
}

impl<B: Backend> BlockScratch<B> {
    pub fn new(be: &B, d: BlockDims) -> Self {
        let nt = d.n * d.t;
        BlockScratch {
            dh: be.zeros(nt * d.c),
            dqkv: be.zeros(nt * 3 * d.c),
            datt: be.zeros(d.n * d.heads * d.t * d.t),
            da: be.zeros(nt * d.c),
            dx2: be.zeros(nt * d.c),
            dg: be.zeros(nt * d.c),
            dfc1: be.zeros(nt * d.hidden),
            df: be.zeros(nt * d.hidden),
        }
    }
}

/// y = x·W + b   x [rows, din], W [din, dout], y [rows, dout]
#[allow(clippy::too_many_arguments)]
pub fn linear_fwd<B: Backend>(be: &B, y: &B::Buf, x: &B::Buf, w: &B::Buf, b: Option<&B::Buf>, rows: usize, din: usize, dout: usize) {
    be.matmul(y, x, w, b, rows, din, dout, false, false, false);
}

/// dx (= or +=) dy·Wᵀ;  dW += xᵀ·dy;  db += Σ_rows dy
#[allow(clippy::too_many_arguments)]
pub fn linear_bwd<B: Backend>(
    be: &B,
    dx: Option<(&B::Buf, bool)>,
    dw: &B::Buf,
    db: Option<&B::Buf>,
    dy: &B::Buf,
    x: &B::Buf,
    w: &B::Buf,
    rows: usize,
    din: usize,
    dout: usize,
) {
    if let Some((dx, acc)) = dx {
        be.matmul(dx, dy, w, None, rows, dout, din, false, true, acc);
    }
    be.matmul(dw, x, dy, None, din, rows, dout, true, false, true);
    if let Some(db) = db {
        be.bias_grad(db, dy, rows, dout);
    }
}

/// Forward one block: reads x [n·t, c] and the token counts lens (u32 [n]; keys past an
/// example's length are masked), writes every activation in `s` (s.y [n·t, c] is the output).
pub fn block_fwd<B: Backend>(be: &B, ps: &ParamSet<B>, p: &BlockParams, s: &BlockActs<B>, x: &B::Buf, lens: &B::Buf, d: BlockDims) {
    let v = |i: usize| &ps.get(i).value;
    let rows = d.n * d.t;
    be.layernorm_fwd(&s.h, &s.ln1_mean, &s.ln1_rstd, x, v(p.ln1_w), v(p.ln1_b), rows, d.c);
    linear_fwd(be, &s.qkv, &s.h, v(p.qkv_w), Some(v(p.qkv_b)), rows, d.c, 3 * d.c);
    be.attention_fwd(&s.a, &s.att, &s.qkv, lens, d.n, d.t, d.c, d.heads);
    linear_fwd(be, &s.x2, &s.a, v(p.proj_w), Some(v(p.proj_b)), rows, d.c, d.c);
    be.add_inplace(&s.x2, x);
    be.layernorm_fwd(&s.g, &s.ln2_mean, &s.ln2_rstd, &s.x2, v(p.ln2_w), v(p.ln2_b), rows, d.c);
    linear_fwd(be, &s.fc1, &s.g, v(p.fc1_w), Some(v(p.fc1_b)), rows, d.c, d.hidden);
    be.gelu_fwd(&s.f, &s.fc1);
    linear_fwd(be, &s.y, &s.f, v(p.fc2_w), Some(v(p.fc2_b)), rows, d.hidden, d.c);
    be.add_inplace(&s.y, &s.x2);
}

/// Backward one block: dy [n·t, c] → dx [n·t, c] (overwritten), parameter grads accumulated.
#[allow(clippy::too_many_arguments)]
pub fn block_bwd<B: Backend>(
    be: &B,
    ps: &ParamSet<B>,
    p: &BlockParams,
    s: &BlockActs<B>,
    g: &BlockScratch<B>,
    x: &B::Buf,
    lens: &B::Buf,
    dy: &B::Buf,
    dx: &B::Buf,
    d: BlockDims,
) {
    let v = |i: usize| &ps.get(i).value;
    let gr = |i: usize| &ps.get(i).grad;
    let rows = d.n * d.t;
    // MLP branch: y = x2 + fc2(gelu(fc1(LN2(x2))))
    linear_bwd(be, Some((&g.df, false)), gr(p.fc2_w), Some(gr(p.fc2_b)), dy, &s.f, v(p.fc2_w), rows, d.hidden, d.c);
    be.fill(&g.dfc1, 0.0);
    be.gelu_bwd(&g.dfc1, &s.fc1, &g.df);
    linear_bwd(be, Some((&g.dg, false)), gr(p.fc1_w), Some(gr(p.fc1_b)), &g.dfc1, &s.g, v(p.fc1_w), rows, d.c, d.hidden);
    be.copy(&g.dx2, 0, dy, 0, rows * d.c); // residual path
    be.layernorm_bwd(&g.dx2, gr(p.ln2_w), gr(p.ln2_b), &g.dg, &s.x2, &s.ln2_mean, &s.ln2_rstd, v(p.ln2_w), rows, d.c);
    // attention branch: x2 = x + proj(attn(qkv(LN1(x))))
    linear_bwd(be, Some((&g.da, false)), gr(p.proj_w), Some(gr(p.proj_b)), &g.dx2, &s.a, v(p.proj_w), rows, d.c, d.c);
    be.fill(&g.dqkv, 0.0);
    be.attention_bwd(&g.dqkv, &g.datt, &g.da, &s.qkv, &s.att, lens, d.n, d.t, d.c, d.heads);
    linear_bwd(be, Some((&g.dh, false)), gr(p.qkv_w), Some(gr(p.qkv_b)), &g.dqkv, &s.h, v(p.qkv_w), rows, d.c, 3 * d.c);
    be.copy(dx, 0, &g.dx2, 0, rows * d.c); // residual path
    be.layernorm_bwd(dx, gr(p.ln1_w), gr(p.ln1_b), &g.dh, x, &s.ln1_mean, &s.ln1_rstd, v(p.ln1_w), rows, d.c);
}
