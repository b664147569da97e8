//! The CPU backend: plain-Rust twins of every WGSL kernel (generic over f32/f64), and the
//! `Backend` implementation that runs them on host memory with rayon.

/// `[pub] fn name / name_avx2 / name_plain (args) body`: the function built three times — for
/// AVX-512, for AVX2 and for the target's baseline — where `name` runs the widest this CPU has,
/// `name_avx2` the AVX2 build where the CPU has it (else the baseline) and `name_plain` the
/// baseline (tests compare the builds). Closures in the body (its rayon tasks) are built with
/// the same features; helpers it calls only if inlined, so mark them `#[inline(always)]`. Rust
/// never fuses a multiply and an add on its own, so every build computes the same bits.
macro_rules! widest {
    ($(#[$meta:meta])* $vis:vis fn $name:ident / $avx2:ident / $plain:ident ($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        widest!(@tier [$(#[$meta])*] $vis fn $name, "avx512f", $avx2 ($($arg: $ty),*) $body);
        widest!(@tier [#[doc = "The same, built for AVX2 where the CPU has it (else the baseline build)."]]
            $vis fn $avx2, "avx2", $plain ($($arg: $ty),*) $body);
        /// The same, built with the target's baseline features only.
        #[allow(clippy::too_many_arguments)]
        $vis fn $plain($($arg: $ty),*) $body
    };
    // `name`: the body built with `feature`, run where the CPU has it, else `fallback`
    (@tier [$($attr:tt)*] $vis:vis fn $name:ident, $feature:tt, $fallback:ident ($($arg:ident: $ty:ty),*) $body:block) => {
        $($attr)*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!($feature) {
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = $feature)]
                fn wide($($arg: $ty),*) $body
                // SAFETY: the CPU has the feature `wide` is built for.
                return unsafe { wide($($arg),*) };
            }
            $fallback($($arg),*)
        }
    };
}

pub mod attention;
pub mod attention_fast;
pub mod elementwise;
pub mod expf;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod norm_fast;
pub mod optim;
pub mod rng;
pub mod select;
pub mod tokens;

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::Result;

use crate::backend::{AdamHp, Backend, BackendKind, ScoreMode};

/// Scalar type of the twins: f32 for the backend, f64 for gradient checks.
pub trait Real:
    num_traits::Float + num_traits::FromPrimitive + Default + Send + Sync + std::fmt::Debug + std::iter::Sum + 'static
{
    /// A constant as this type.
    fn c(x: f64) -> Self {
        Self::from_f64(x).unwrap()
    }
}
impl Real for f32 {}
impl Real for f64 {}

/// A host buffer (f32 words; u32 data is stored bit-for-bit).
pub type CpuBuf = Rc<RefCell<Vec<f32>>>;

/// Runs every kernel on the CPU.
#[derive(Default)]
pub struct CpuBackend;

impl CpuBackend {
    pub fn new() -> CpuBackend {
        CpuBackend
    }
}

/// dst ← src for the short rows the fast paths copy (a head's 16 values, a 16-column panel):
/// whole blocks of 16 as fixed-size copies, which compile to vector moves, where
/// `copy_from_slice` of a length known only at run time calls memmove once per row.
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "copy_short: lengths differ");
    let (mut d, mut s) = (dst.chunks_exact_mut(16), src.chunks_exact(16));
    for (d, s) in (&mut d).zip(&mut s) {
        let d: &mut [f32; 16] = d.try_into().unwrap();
        *d = s.try_into().unwrap();
    }
    for (d, &v) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = v;
    }
}

fn u32s(v: &[f32]) -> &[u32] {
    bytemuck::cast_slice(v)
}

impl Backend for CpuBackend {
    type Buf = CpuBuf;

    fn kind(&self) -> BackendKind {
        BackendKind::Cpu
    }
    fn adapter_name(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }
    fn max_buffer_bytes(&self) -> u64 {
        1 << 34
    }

    fn zeros(&self, len: usize) -> CpuBuf {
        Rc::new(RefCell::new(vec![0.0; len]))
    }
    fn upload(&self, data: &[f32]) -> CpuBuf {
        Rc::new(RefCell::new(data.to_vec()))
    }
    fn upload_u32(&self, data: &[u32]) -> CpuBuf {
        Rc::new(RefCell::new(bytemuck::cast_slice(data).to_vec()))
    }
    fn write(&self, buf: &CpuBuf, data: &[f32]) {
        buf.borrow_mut()[..data.len()].copy_from_slice(data);
    }
    fn write_u32(&self, buf: &CpuBuf, data: &[u32]) {
        buf.borrow_mut()[..data.len()].copy_from_slice(bytemuck::cast_slice(data));
    }
    fn read(&self, buf: &CpuBuf) -> Result<Vec<f32>> {
        Ok(buf.borrow().clone())
    }
    fn read_u32(&self, buf: &CpuBuf) -> Result<Vec<u32>> {
        Ok(u32s(&buf.borrow()).to_vec())
    }
    async fn read_async(&self, buf: &CpuBuf) -> Result<Vec<f32>> {
        self.read(buf)
    }
    async fn read_u32_async(&self, buf: &CpuBuf) -> Result<Vec<u32>> {
        self.read_u32(buf)
    }
    fn len(&self, buf: &CpuBuf) -> usize {
        buf.borrow().len()
    }
    fn view_align(&self) -> Option<usize> {
        None // host tensors are separate vectors: one dispatch costs nothing here to save
    }
    fn view(&self, _whole: &CpuBuf, _off: usize, _len: usize) -> CpuBuf {
        unreachable!("the CPU backend has no views (view_align is None)")
    }
    fn copy(&self, dst: &CpuBuf, dst_off: usize, src: &CpuBuf, src_off: usize, len: usize) {
        if Rc::ptr_eq(dst, src) {
            dst.borrow_mut().copy_within(src_off..src_off + len, dst_off);
        } else {
            dst.borrow_mut()[dst_off..dst_off + len].copy_from_slice(&src.borrow()[src_off..src_off + len]);
        }
    }
    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn fill(&self, x: &CpuBuf, value: f32) {
        x.borrow_mut().fill(value);
    }
    fn add_inplace(&self, dst: &CpuBuf, src: &CpuBuf) {
        elementwise::add_inplace(&mut dst.borrow_mut(), &src.borrow());
    }
    fn gelu_fwd(&self, out: &CpuBuf, x: &CpuBuf) {
        elementwise::gelu_fwd_f32(&mut out.borrow_mut(), &x.borrow());
    }
    fn gelu_bwd(&self, dx: &CpuBuf, x: &CpuBuf, dy: &CpuBuf) {
        elementwise::gelu_bwd_f32(&mut dx.borrow_mut(), &x.borrow(), &dy.borrow());
    }

    fn matmul(&self, c: &CpuBuf, a: &CpuBuf, b: &CpuBuf, bias: Option<&CpuBuf>, m: usize, k: usize, n: usize, ta: bool, tb: bool, acc: bool) {
        let bias = bias.map(|x| x.borrow());
        matmul::matmul_fast(&mut c.borrow_mut(), &a.borrow(), &b.borrow(), bias.as_deref().map(|v| &v[..]), m, k, n, ta, tb, acc);
    }
    fn bias_grad(&self, db: &CpuBuf, dy: &CpuBuf, m: usize, n: usize) {
        matmul::bias_grad(&mut db.borrow_mut(), &dy.borrow(), m, n);
    }

    fn layernorm_fwd(&self, out: &CpuBuf, mean: &CpuBuf, rstd: &CpuBuf, x: &CpuBuf, w: &CpuBuf, b: &CpuBuf, rows: usize, cols: usize) {
        norm_fast::layernorm_fwd(&mut out.borrow_mut(), &mut mean.borrow_mut(), &mut rstd.borrow_mut(), &x.borrow(), &w.borrow(), &b.borrow(), rows, cols);
    }
    fn layernorm_bwd(&self, dx: &CpuBuf, dw: &CpuBuf, db: &CpuBuf, dy: &CpuBuf, x: &CpuBuf, mean: &CpuBuf, rstd: &CpuBuf, w: &CpuBuf, rows: usize, cols: usize) {
        norm_fast::layernorm_bwd(
            &mut dx.borrow_mut(), &mut dw.borrow_mut(), &mut db.borrow_mut(),
            &dy.borrow(), &x.borrow(), &mean.borrow(), &rstd.borrow(), &w.borrow(), rows, cols,
        );
    }
    fn l2norm_fwd(&self, out: &CpuBuf, nrm: &CpuBuf, x: &CpuBuf, rows: usize, cols: usize) {
        norm::l2norm_fwd(&mut out.borrow_mut(), &mut nrm.borrow_mut(), &x.borrow(), rows, cols);
    }
    fn l2norm_bwd(&self, dx: &CpuBuf, dout: &CpuBuf, out: &CpuBuf, nrm: &CpuBuf, rows: usize, cols: usize) {
        norm::l2norm_bwd(&mut dx.borrow_mut(), &dout.borrow(), &out.borrow(), &nrm.borrow(), rows, cols);
    }

    fn embed_fwd(&self, out: &CpuBuf, tok: &CpuBuf, table: &CpuBuf, n_tok: usize, c: usize) {
        tokens::embed_fwd(&mut out.borrow_mut(), u32s(&tok.borrow()), &table.borrow(), n_tok, c);
    }
    fn embed_bwd(&self, dtable: &CpuBuf, tok: &CpuBuf, dout: &CpuBuf, n_tok: usize, c: usize, vocab: usize) {
        tokens::embed_bwd_indexed(&mut dtable.borrow_mut(), u32s(&tok.borrow()), &dout.borrow(), n_tok, c, vocab);
    }
    fn patchify(&self, out: &CpuBuf, images: &CpuBuf, n: usize, s: usize, p: usize) {
        tokens::patchify(&mut out.borrow_mut(), &images.borrow(), n, s, p);
    }
    fn area_resize_fwd(&self, out: &CpuBuf, x: &CpuBuf, n: usize, s_in: usize, s_out: usize, ch: usize) {
        tokens::area_resize_fwd(&mut out.borrow_mut(), &x.borrow(), n, s_in, s_out, ch);
    }
    fn area_resize_bwd(&self, dx: &CpuBuf, dout: &CpuBuf, n: usize, s_in: usize, s_out: usize, ch: usize) {
        tokens::area_resize_bwd(&mut dx.borrow_mut(), &dout.borrow(), n, s_in, s_out, ch);
    }
    fn add_pos_fwd(&self, x: &CpuBuf, pos: &CpuBuf, n: usize, t: usize, c: usize) {
        tokens::add_pos_fwd(&mut x.borrow_mut(), &pos.borrow(), n, t, c);
    }
    fn add_pos_bwd(&self, dpos: &CpuBuf, dx: &CpuBuf, n: usize, t: usize, c: usize) {
        tokens::add_pos_bwd(&mut dpos.borrow_mut(), &dx.borrow(), n, t, c);
    }
    fn mean_pool_fwd(&self, out: &CpuBuf, x: &CpuBuf, lens: &CpuBuf, n: usize, t: usize, c: usize) {
        tokens::mean_pool_fwd(&mut out.borrow_mut(), &x.borrow(), u32s(&lens.borrow()), n, t, c);
    }
    fn mean_pool_bwd(&self, dx: &CpuBuf, dout: &CpuBuf, lens: &CpuBuf, n: usize, t: usize, c: usize) {
        tokens::mean_pool_bwd(&mut dx.borrow_mut(), &dout.borrow(), u32s(&lens.borrow()), n, t, c);
    }

    fn attention_fwd(&self, out: &CpuBuf, att: &CpuBuf, qkv: &CpuBuf, lens: &CpuBuf, n: usize, t: usize, c: usize, heads: usize) {
        attention_fast::attention_fwd(&mut out.borrow_mut(), &mut att.borrow_mut(), &qkv.borrow(), u32s(&lens.borrow()), n, t, c, heads);
    }
    fn attention_bwd(&self, dqkv: &CpuBuf, datt: &CpuBuf, dout: &CpuBuf, qkv: &CpuBuf, att: &CpuBuf, lens: &CpuBuf, n: usize, t: usize, c: usize, heads: usize) {
        attention_fast::attention_bwd(
            &mut dqkv.borrow_mut(), &mut datt.borrow_mut(), &dout.borrow(), &qkv.borrow(), &att.borrow(),
            u32s(&lens.borrow()), n, t, c, heads,
        );
    }

    fn siglip_loss(&self, lmat: &CpuBuf, dsims: &CpuBuf, stats: &CpuBuf, sims: &CpuBuf, tb: &CpuBuf, b: usize) {
        loss::siglip_loss(&mut lmat.borrow_mut(), &mut dsims.borrow_mut(), &mut stats.borrow_mut(), &sims.borrow(), &tb.borrow(), b);
    }

    fn sumsq(&self, acc: &CpuBuf, x: &CpuBuf) {
        optim::sumsq(&mut acc.borrow_mut(), &x.borrow());
    }
    fn adamw(&self, param: &CpuBuf, grad: &CpuBuf, m: &CpuBuf, v: &CpuBuf, gnorm2: &CpuBuf, hp: &AdamHp) {
        optim::adamw(&mut param.borrow_mut(), &grad.borrow(), &mut m.borrow_mut(), &mut v.borrow_mut(), &gnorm2.borrow(), hp);
    }

    fn score_matrix(&self, a: &CpuBuf, u_l: &CpuBuf, v_l: &CpuBuf, tb_l: &CpuBuf, u_r: &CpuBuf, v_r: &CpuBuf, tb_r: &CpuBuf, bsz: usize, d: usize, mode: ScoreMode, gain: f32) {
        select::score_matrix(
            &mut a.borrow_mut(), &u_l.borrow(), &v_l.borrow(), &tb_l.borrow(), &u_r.borrow(), &v_r.borrow(), &tb_r.borrow(),
            bsz, d, mode, gain,
        );
    }
    fn joint_sample(&self, idx: &CpuBuf, a: &CpuBuf, sums: &CpuBuf, bsz: usize, b: usize, chunks: usize, joint: bool, seed: u32, step: u32) {
        let mut out = vec![0u32; b];
        select::joint_sample(&mut out, &a.borrow(), &mut sums.borrow_mut(), bsz, b, chunks, joint, seed, step);
        self.write_u32(idx, &out);
    }
    fn gather_rows(&self, out: &CpuBuf, src: &CpuBuf, idx: &CpuBuf, rows: usize, width: usize) {
        select::gather_rows(&mut out.borrow_mut(), &src.borrow(), u32s(&idx.borrow()), rows, width);
    }

    fn randn(&self, out: &CpuBuf, seed: u32, stream: u32, std: f32) {
        rng::randn(&mut out.borrow_mut(), seed, stream, std);
    }
}
