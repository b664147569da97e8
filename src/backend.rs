//! The backend interface: buffers plus every kernel the model, loss, optimizer and selector use.
//!
//! One code path above this trait drives either backend: `gpu::GpuBackend` (WGSL through wgpu)
//! or `cpu::CpuBackend` (the plain-Rust twins). Conventions shared by all kernels:
//! - buffers hold f32 words (token ids and lengths are u32 words in the same buffers);
//! - shapes are row-major, named in the comments as `[n, t, c]`;
//! - backward kernels ACCUMULATE into their gradient outputs (`dx += …`), llm.c style, so
//!   branches of the residual stream need no extra adds; callers zero grads with `fill`.

use anyhow::Result;

/// Which implementation runs the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Cpu,
    Gpu,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Gpu => "gpu",
        }
    }
}

/// Hyper-parameters of one AdamW update, with the warm-up + cosine schedule evaluated on the
/// device from `step` (see `cpu::optim::schedule_lr`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamHp {
    pub base_lr: f32,
    pub min_lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// gradient-norm clipping threshold (global L2 norm over all parameters)
    pub clip: f32,
    /// 1-based step number (bias correction and schedule)
    pub step: u32,
    pub warmup: u32,
    pub total: u32,
    pub _pad: [u32; 2],
}

/// Which JEST score the score matrix holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreMode {
    /// A = L(learner) − L(reference): "unlearned but learnable"
    Learnability = 0,
    /// A = −L(reference): CLIP-score-like filtering
    EasyRef = 1,
    /// A = L(learner): up-samples noise
    HardLearner = 2,
}

/// The interface. `Buf` is a device buffer of f32/u32 words.
pub trait Backend {
    type Buf: Clone;

    fn kind(&self) -> BackendKind;
    /// Human-readable adapter name ("cpu (2 threads)", "llvmpipe (LLVM 15…)", …).
    fn adapter_name(&self) -> String;
    /// Largest buffer this backend can bind, in bytes (configs are checked against it).
    fn max_buffer_bytes(&self) -> u64;

    // ---- memory ------------------------------------------------------------------------
    /// A zero-filled buffer of `len` words.
    fn zeros(&self, len: usize) -> Self::Buf;
    fn upload(&self, data: &[f32]) -> Self::Buf;
    fn upload_u32(&self, data: &[u32]) -> Self::Buf;
    fn write(&self, buf: &Self::Buf, data: &[f32]);
    fn write_u32(&self, buf: &Self::Buf, data: &[u32]);
    fn read(&self, buf: &Self::Buf) -> Result<Vec<f32>>;
    fn read_u32(&self, buf: &Self::Buf) -> Result<Vec<u32>>;
    /// Read back without blocking: the browser's only way (native callers may `block_on` it).
    fn read_async(&self, buf: &Self::Buf) -> impl std::future::Future<Output = Result<Vec<f32>>>;
    fn read_u32_async(&self, buf: &Self::Buf) -> impl std::future::Future<Output = Result<Vec<u32>>>;
    fn len(&self, buf: &Self::Buf) -> usize;
    /// dst[dst_off..dst_off+len] = src[src_off..src_off+len]
    fn copy(&self, dst: &Self::Buf, dst_off: usize, src: &Self::Buf, src_off: usize, len: usize);
    /// Words between the starts of views into one buffer (`view`'s offsets must be multiples of
    /// it), or None where this backend has no views (each tensor is then a buffer of its own).
    fn view_align(&self) -> Option<usize>;
    /// The `len` words of `whole` from word `off`, as a buffer every kernel takes: writes
    /// through it land in `whole`. Only where `view_align` is Some, with `off` a multiple of it.
    fn view(&self, whole: &Self::Buf, off: usize, len: usize) -> Self::Buf;
    /// Wait for queued work; report any device error (validation, lost device, timeout).
    fn sync(&self) -> Result<()>;

    // ---- elementwise.wgsl ----------------------------------------------------------------
    /// x[i] = value
    fn fill(&self, x: &Self::Buf, value: f32);
    /// dst += src             ([n])
    fn add_inplace(&self, dst: &Self::Buf, src: &Self::Buf);
    /// out = gelu(x)          (tanh approximation, [n])
    fn gelu_fwd(&self, out: &Self::Buf, x: &Self::Buf);
    /// dx += dy · gelu'(x)    ([n])
    fn gelu_bwd(&self, dx: &Self::Buf, x: &Self::Buf, dy: &Self::Buf);

    // ---- matmul.wgsl ---------------------------------------------------------------------
    /// c[m,n] = (acc ? c : 0) + op(a)·op(b) + bias[n]
    /// op(a) is a[m,k], or a[k,m]ᵀ when `ta`; op(b) is b[k,n], or b[n,k]ᵀ when `tb`.
    #[allow(clippy::too_many_arguments)]
    fn matmul(
        &self,
        c: &Self::Buf,
        a: &Self::Buf,
        b: &Self::Buf,
        bias: Option<&Self::Buf>,
        m: usize,
        k: usize,
        n: usize,
        ta: bool,
        tb: bool,
        acc: bool,
    );
    /// db[n] += Σ_rows dy[m,n]
    fn bias_grad(&self, db: &Self::Buf, dy: &Self::Buf, m: usize, n: usize);

    // ---- norm.wgsl -----------------------------------------------------------------------
    /// out[r,:] = (x[r,:] − μ_r)·rstd_r·w + b ; mean[r] = μ_r, rstd[r] = 1/sqrt(var_r + 1e-5)
    #[allow(clippy::too_many_arguments)]
    fn layernorm_fwd(
        &self,
        out: &Self::Buf,
        mean: &Self::Buf,
        rstd: &Self::Buf,
        x: &Self::Buf,
        w: &Self::Buf,
        b: &Self::Buf,
        rows: usize,
        cols: usize,
    );
    /// dx[r,c] += …, dw[c] += Σ_r dy·x̂, db[c] += Σ_r dy
    #[allow(clippy::too_many_arguments)]
    fn layernorm_bwd(
        &self,
        dx: &Self::Buf,
        dw: &Self::Buf,
        db: &Self::Buf,
        dy: &Self::Buf,
        x: &Self::Buf,
        mean: &Self::Buf,
        rstd: &Self::Buf,
        w: &Self::Buf,
        rows: usize,
        cols: usize,
    );
    /// out[r,:] = x[r,:] / n_r, norm[r] = n_r = sqrt(Σ x² + 1e-12)
    fn l2norm_fwd(&self, out: &Self::Buf, norm: &Self::Buf, x: &Self::Buf, rows: usize, cols: usize);
    /// dx[r,:] += (dout − out·(out·dout)) / n_r
    #[allow(clippy::too_many_arguments)]
    fn l2norm_bwd(
        &self,
        dx: &Self::Buf,
        dout: &Self::Buf,
        out: &Self::Buf,
        norm: &Self::Buf,
        rows: usize,
        cols: usize,
    );

    // ---- tokens.wgsl ---------------------------------------------------------------------
    /// out[i,:] = table[tokens[i],:]          tokens u32 [n_tok], table [vocab,c], out [n_tok,c]
    fn embed_fwd(&self, out: &Self::Buf, tokens: &Self::Buf, table: &Self::Buf, n_tok: usize, c: usize);
    /// dtable[v,:] += Σ_{i: tokens[i]=v} dout[i,:]
    #[allow(clippy::too_many_arguments)]
    fn embed_bwd(
        &self,
        dtable: &Self::Buf,
        tokens: &Self::Buf,
        dout: &Self::Buf,
        n_tok: usize,
        c: usize,
        vocab: usize,
    );
    /// Image to patches (im2col). images [n, s, s, 3] (HWC, f32), out [n, (s/p)², p·p·3]
    /// with the patch vector ordered (py, px, channel). No backward: images are inputs.
    fn patchify(&self, out: &Self::Buf, images: &Self::Buf, n: usize, s: usize, p: usize);
    /// Area resampling of square grids (Flexi-JEST's low resolution): x [n, s_in, s_in, ch] →
    /// out [n, s_out, s_out, ch], each output cell the overlap-weighted mean of the input cells
    /// it covers. Images use ch = 3; the positional table [g·g, c] is n = 1, ch = c.
    fn area_resize_fwd(&self, out: &Self::Buf, x: &Self::Buf, n: usize, s_in: usize, s_out: usize, ch: usize);
    /// The transpose: dx [n, s_in, s_in, ch] += resizeᵀ(dout [n, s_out, s_out, ch])
    fn area_resize_bwd(&self, dx: &Self::Buf, dout: &Self::Buf, n: usize, s_in: usize, s_out: usize, ch: usize);
    /// x[i,t,:] += pos[t,:]                   x [n,t,c], pos [t,c]
    fn add_pos_fwd(&self, x: &Self::Buf, pos: &Self::Buf, n: usize, t: usize, c: usize);
    /// dpos[t,:] += Σ_i dx[i,t,:]
    fn add_pos_bwd(&self, dpos: &Self::Buf, dx: &Self::Buf, n: usize, t: usize, c: usize);
    /// out[i,:] = (1/L_i) Σ_{τ<L_i} x[i,τ,:], L_i = min(lens[i], t) (0 gives 0)   lens u32 [n], x [n,t,c], out [n,c]
    #[allow(clippy::too_many_arguments)]
    fn mean_pool_fwd(&self, out: &Self::Buf, x: &Self::Buf, lens: &Self::Buf, n: usize, t: usize, c: usize);
    /// dx[i,t,:] += dout[i,:] / len_i  for t < len_i
    #[allow(clippy::too_many_arguments)]
    fn mean_pool_bwd(&self, dx: &Self::Buf, dout: &Self::Buf, lens: &Self::Buf, n: usize, t: usize, c: usize);

    // ---- attention.wgsl ------------------------------------------------------------------
    /// Multi-head self-attention core (projections are matmuls outside).
    /// qkv [n,t,3c] laid out (q | k | v), each c = heads·hd; keys j ≥ clamp(lens[i], 1, t) are masked.
    /// att [n,heads,t,t] = softmax_j(q·k / sqrt(hd)) (saved for backward); out [n,t,c] = att·v.
    #[allow(clippy::too_many_arguments)]
    fn attention_fwd(
        &self,
        out: &Self::Buf,
        att: &Self::Buf,
        qkv: &Self::Buf,
        lens: &Self::Buf,
        n: usize,
        t: usize,
        c: usize,
        heads: usize,
    );
    /// dqkv [n,t,3c] += ∂/∂qkv; datt [n,heads,t,t] is scratch (overwritten).
    #[allow(clippy::too_many_arguments)]
    fn attention_bwd(
        &self,
        dqkv: &Self::Buf,
        datt: &Self::Buf,
        dout: &Self::Buf,
        qkv: &Self::Buf,
        att: &Self::Buf,
        lens: &Self::Buf,
        n: usize,
        t: usize,
        c: usize,
        heads: usize,
    );

    // ---- loss.wgsl -----------------------------------------------------------------------
    /// Sigmoid contrastive loss on a b×b similarity matrix sims = U·Vᵀ.
    /// tb = [t′, β]; logit = exp(t′)·sims + β; z = +1 on the diagonal, −1 off it.
    /// lmat[i,j] = softplus(−z·logit)              (per-pair loss, also the JEST score input)
    /// dsims[i,j] = exp(t′)·(−z·σ(−z·logit))/b      (∂ℓ/∂sims, overwritten)
    /// stats = [ℓ = Σ lmat / b, ∂ℓ/∂t′, ∂ℓ/∂β]      (overwritten)
    fn siglip_loss(
        &self,
        lmat: &Self::Buf,
        dsims: &Self::Buf,
        stats: &Self::Buf,
        sims: &Self::Buf,
        tb: &Self::Buf,
        b: usize,
    );

    // ---- optim.wgsl ----------------------------------------------------------------------
    /// acc[0] += Σ x²                        (global gradient norm², accumulated over tensors)
    fn sumsq(&self, acc: &Self::Buf, x: &Self::Buf);
    /// AdamW with global-norm clipping: g ← g·min(1, clip/(sqrt(gnorm2[0]) + 1e-6)) (clip ≤ 0:
    /// off); lr from the
    /// warm-up + cosine schedule at hp.step; decoupled weight decay when `hp.weight_decay > 0`.
    #[allow(clippy::too_many_arguments)]
    fn adamw(
        &self,
        param: &Self::Buf,
        grad: &Self::Buf,
        m: &Self::Buf,
        v: &Self::Buf,
        gnorm2: &Self::Buf,
        hp: &AdamHp,
    );

    // ---- scores.wgsl ---------------------------------------------------------------------
    /// The JEST score matrix of a super-batch, fused from embeddings (nothing but A [B,B] is
    /// written). With L_ij = softplus(−z_ij·(exp(t′)·u_i·v_j + β)), z = +1 on the diagonal:
    ///   Learnability: A = gain·(L_learner − L_ref);  EasyRef: A = −gain·L_ref;
    ///   HardLearner: A = gain·L_learner.
    /// u_l, v_l, u_r, v_r [B, d]; tb_l, tb_r [2] = (t′, β) of learner and reference.
    #[allow(clippy::too_many_arguments)]
    fn score_matrix(
        &self,
        a: &Self::Buf,
        u_l: &Self::Buf,
        v_l: &Self::Buf,
        tb_l: &Self::Buf,
        u_r: &Self::Buf,
        v_r: &Self::Buf,
        tb_r: &Self::Buf,
        bsz: usize,
        d: usize,
        mode: ScoreMode,
        gain: f32,
    );

    // ---- sampler.wgsl --------------------------------------------------------------------
    /// Joint example selection (JEST.md): `chunks` chunks of m = b/chunks drawn by Gumbel-top-m
    /// without replacement; chunk 1 from s_c = A_cc, chunk n from
    /// s_c = A_cc + Σ_{k∈S} (A_kc + A_ck) kept as running sums (`joint` = false keeps s_c = A_cc:
    /// the independent baseline). Gumbel noise = `rng_core` gumbel(seed, stream, c) with
    /// stream = step·1024 + chunk. idx u32 [b] receives the chosen indices in draw order;
    /// sums [2·bsz] is scratch (running sums, then selection flags). One dispatch, no read-back.
    #[allow(clippy::too_many_arguments)]
    fn joint_sample(
        &self,
        idx: &Self::Buf,
        a: &Self::Buf,
        sums: &Self::Buf,
        bsz: usize,
        b: usize,
        chunks: usize,
        joint: bool,
        seed: u32,
        step: u32,
    );

    // ---- gather.wgsl ---------------------------------------------------------------------
    /// out[k, :] = src[idx[k], :]    src [_, width], idx u32 [rows], out [rows, width]
    fn gather_rows(&self, out: &Self::Buf, src: &Self::Buf, idx: &Self::Buf, rows: usize, width: usize);

    // ---- rng.wgsl ------------------------------------------------------------------------
    /// out[i] = std · N(0,1), from a counter-based hash of (seed, stream, i) (Box–Muller).
    fn randn(&self, out: &Self::Buf, seed: u32, stream: u32, std: f32);
}
