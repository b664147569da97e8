//! One encoder tower — ViT for images, transformer for text — forward and backward:
//!   image: patches = patchify(img) [n,T,p²·3];  x0 = patches·Wp + bp + pos
//!   text:  x0 = tok_emb[tokens] + pos                            (keys past len masked)
//!   then blocks → LN_f → mean pool over valid tokens [n,C] → ·Whead [n,D] → L2 normalise.
//! Low resolution (Flexi-JEST): the image is area-resampled to `low_size` px (default half the
//! side: 4× fewer tokens) and patchified with the same patch weights; the positional grid is
//! resampled the same way (area weights, so 2× is 2×2 average pooling).

use crate::backend::Backend;
use crate::config::ModelConfig;
use crate::model::block::{block_bwd, block_fwd, linear_bwd, linear_fwd, BlockActs, BlockDims, BlockParams, BlockScratch};
use crate::model::params::{Init, ParamSet, ParamSpecs};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TowerKind {
    Image,
    Text,
}

/// Parameter indices of a tower.
#[derive(Clone, Debug)]
pub struct Tower {
    pub kind: TowerKind,
    /// image: patch weight [p²·3, C]; text: token embedding [V, C]
    pub front_w: usize,
    /// image: patch bias [C]
    pub front_b: Option<usize>,
    pub pos: usize,
    pub blocks: Vec<BlockParams>,
    pub lnf_w: usize,
    pub lnf_b: usize,
    pub head: usize,
    /// tokens per sequence at full resolution
    pub t: usize,
    pub c: usize,
    pub heads: usize,
    pub hidden: usize,
    pub embed_dim: usize,
    pub patch: usize,
    pub image_size: usize,
    /// image side at low resolution (Flexi-JEST), a multiple of `patch`
    pub low_size: usize,
    pub vocab: usize,
}

impl Tower {
    pub fn new(ps: &mut ParamSpecs, kind: TowerKind, cfg: &ModelConfig) -> Tower {
        let c = cfg.width;
        let prefix = match kind {
            TowerKind::Image => "image",
            TowerKind::Text => "text",
        };
        let t = match kind {
            TowerKind::Image => cfg.image_tokens(),
            TowerKind::Text => cfg.text_len,
        };
        let (front_w, front_b) = match kind {
            TowerKind::Image => {
                let pd = cfg.patch_dim();
                let w = ps.add("image.patch.weight".into(), &[pd, c], Init::Normal(1.0 / (pd as f32).sqrt()));
                (w, Some(ps.add("image.patch.bias".into(), &[c], Init::Zeros)))
            }
            TowerKind::Text => (ps.add("text.tok_emb".into(), &[cfg.vocab, c], Init::Normal(0.02)), None),
        };
        let pos = ps.add(format!("{prefix}.pos"), &[t, c], Init::Normal(0.02));
        let hidden = cfg.mlp_ratio * c;
        let blocks = (0..cfg.depth)
            .map(|i| BlockParams::new(ps, &format!("{prefix}.blocks.{i}"), c, hidden, cfg.depth))
            .collect();
        let lnf_w = ps.add(format!("{prefix}.ln_f.weight"), &[c], Init::Ones);
        let lnf_b = ps.add(format!("{prefix}.ln_f.bias"), &[c], Init::Zeros);
        let head = ps.add(format!("{prefix}.head.weight"), &[c, cfg.embed_dim], Init::Normal(1.0 / (c as f32).sqrt()));
        Tower {
            kind,
            front_w,
            front_b,
            pos,
            blocks,
            lnf_w,
            lnf_b,
            head,
            t,
            c,
            heads: cfg.heads,
            hidden,
            embed_dim: cfg.embed_dim,
            patch: cfg.patch,
            image_size: cfg.image_size,
            low_size: crate::jest::SelectConfig::default_flexi_size(cfg.image_size, cfg.patch),
            vocab: cfg.vocab,
        }
    }

    fn dims(&self, n: usize, t: usize) -> BlockDims {
        BlockDims { n, t, c: self.c, heads: self.heads, hidden: self.hidden }
    }

    /// Side of the positional grid (image towers): image_size / patch.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch
    }

    /// Side of the positional grid at low resolution: low_size / patch.
    pub fn low_grid(&self) -> usize {
        self.low_size / self.patch
    }
}

/// Activations and gradient scratch of one tower for a batch of `n`.
pub struct TowerActs<B: Backend> {
    pub n: usize,
    /// tokens per sequence (image: fewer at low resolution)
    pub t: usize,
    /// image tower at low resolution: resampled pixels [n, s_low, s_low, 3], the resampled
    /// positional table [t, c] and its gradient
    pub low: Option<LowRes<B>>,
    /// image: pixels [n,s,s,3] f32; text: tokens [n,t] u32
    pub input: B::Buf,
    /// valid tokens per sequence, u32 [n]
    pub lens: B::Buf,
    /// image only: patches [n,T,p²·3]
    pub patches: Option<B::Buf>,
    /// token embeddings plus positions, the first block's input [n,t,c]
    pub x0: B::Buf,
    pub blocks: Vec<BlockActs<B>>,
    /// final LayerNorm [n,t,c], its mean and 1/std [n·t]
    pub lnf: B::Buf,
    pub lnf_mean: B::Buf,
    pub lnf_rstd: B::Buf,
    /// mean over the valid tokens [n,c], its projection [n,D] and that row's norm [n]
    pub pooled: B::Buf,
    pub proj: B::Buf,
    pub norm: B::Buf,
    /// the tower's output: L2-normalised embeddings [n, D]
    pub emb: B::Buf,
    pub scratch: BlockScratch<B>,
    /// gradient ping-pong buffers [n,t,c] and the head/pool grads (dpooled [n,c], dproj [n,D])
    pub dx_a: B::Buf,
    pub dx_b: B::Buf,
    pub dpooled: B::Buf,
    pub dproj: B::Buf,
}

/// Buffers of the low-resolution image path (s′ = low_size px, t′ = (s′/patch)² tokens).
pub struct LowRes<B: Backend> {
    /// the images area-resized to s′ [n,s′,s′,3]
    pub small: B::Buf,
    /// the positional table resized to t′ tokens [t′,c] and its gradient
    pub pos: B::Buf,
    pub dpos: B::Buf,
}

impl<B: Backend> TowerActs<B> {
    /// Activations for n sequences; `lowres` (image towers only) at `tw.low_size` px.
    pub fn new(be: &B, tw: &Tower, n: usize, lowres: bool) -> Self {
        let lowres = lowres && tw.kind == TowerKind::Image;
        let t = if lowres { tw.low_grid().pow(2) } else { tw.t };
        let d = tw.dims(n, t);
        let ntc = n * t * tw.c;
        let (input, patches) = match tw.kind {
            TowerKind::Image => (be.zeros(n * tw.image_size * tw.image_size * 3), Some(be.zeros(n * t * tw.patch * tw.patch * 3))),
            TowerKind::Text => (be.zeros(n * tw.t), None),
        };
        let lens = be.upload_u32(&vec![t as u32; n]);
        let low = lowres.then(|| LowRes {
            small: be.zeros(n * tw.low_size.pow(2) * 3),
            pos: be.zeros(t * tw.c),
            dpos: be.zeros(t * tw.c),
        });
        TowerActs {
            n,
            t,
            low,
            input,
            lens,
            patches,
            x0: be.zeros(ntc),
            blocks: (0..tw.blocks.len()).map(|_| BlockActs::new(be, d)).collect(),
            lnf: be.zeros(ntc),
            lnf_mean: be.zeros(n * t),
            lnf_rstd: be.zeros(n * t),
            pooled: be.zeros(n * tw.c),
            proj: be.zeros(n * tw.embed_dim),
            norm: be.zeros(n),
            emb: be.zeros(n * tw.embed_dim),
            scratch: BlockScratch::new(be, d),
            dx_a: be.zeros(ntc),
            dx_b: be.zeros(ntc),
            dpooled: be.zeros(n * tw.c),
            dproj: be.zeros(n * tw.embed_dim),
        }
    }
}

impl<B: Backend> TowerActs<B> {
    /// The forward's buffers that the backward reads, each example-major ([n, …]), so rows
    /// of a larger batch's activations can be gathered into these.
    fn per_example(&self) -> Vec<&B::Buf> {
        let mut v = vec![&self.input, &self.lens];
        v.extend(&self.patches);
        v.push(&self.x0);
        for b in &self.blocks {
            v.extend(b.per_example());
        }
        v.extend([&self.lnf, &self.lnf_mean, &self.lnf_rstd, &self.pooled, &self.proj, &self.norm, &self.emb]);
        v
    }

    /// This batch's forward without computing it: rows `idx` (u32 [self.n]) of the forward
    /// activations of `src`, a larger batch at the same resolution. Every op of the forward
    /// works example by example, so these are the activations a forward would produce.
    pub fn gather_from(&self, be: &B, src: &TowerActs<B>, idx: &B::Buf) {
        assert!(self.low.is_none() && src.low.is_none() && self.t == src.t, "activations are gathered at full resolution only");
        for (dst, s) in self.per_example().into_iter().zip(src.per_example()) {
            let width = be.len(s) / src.n;
            debug_assert_eq!(be.len(dst), width * self.n);
            be.gather_rows(dst, s, idx, self.n, width);
        }
    }
}

/// Forward: `a.input` (and `a.lens` for text) must be filled; writes `a.emb`.
pub fn tower_fwd<B: Backend>(be: &B, ps: &ParamSet<B>, tw: &Tower, a: &TowerActs<B>) {
    let v = |i: usize| &ps.get(i).value;
    let (n, t, c) = (a.n, a.t, tw.c);
    match tw.kind {
        TowerKind::Image => {
            let patches = a.patches.as_ref().expect("image acts have patches");
            match &a.low {
                Some(low) => {
                    be.area_resize_fwd(&low.small, &a.input, n, tw.image_size, tw.low_size, 3);
                    be.patchify(patches, &low.small, n, tw.low_size, tw.patch);
                }
                None => be.patchify(patches, &a.input, n, tw.image_size, tw.patch),
            }
            let pd = tw.patch * tw.patch * 3;
            linear_fwd(be, &a.x0, patches, v(tw.front_w), tw.front_b.map(v), n * t, pd, c);
        }
        TowerKind::Text => be.embed_fwd(&a.x0, &a.input, v(tw.front_w), n * t, c),
    }
    match &a.low {
        Some(low) => {
            be.area_resize_fwd(&low.pos, v(tw.pos), 1, tw.grid(), tw.low_grid(), c);
            be.add_pos_fwd(&a.x0, &low.pos, n, t, c);
        }
        None => be.add_pos_fwd(&a.x0, v(tw.pos), n, t, c),
    }
    let d = tw.dims(n, t);
    let mut x = &a.x0;
    for (p, s) in tw.blocks.iter().zip(&a.blocks) {
        block_fwd(be, ps, p, s, x, &a.lens, d);
        x = &s.y;
    }
    be.layernorm_fwd(&a.lnf, &a.lnf_mean, &a.lnf_rstd, x, v(tw.lnf_w), v(tw.lnf_b), n * t, c);
    be.mean_pool_fwd(&a.pooled, &a.lnf, &a.lens, n, t, c);
    linear_fwd(be, &a.proj, &a.pooled, v(tw.head), None, n, c, tw.embed_dim);
    be.l2norm_fwd(&a.emb, &a.norm, &a.proj, n, tw.embed_dim);
}

/// Backward from ∂ℓ/∂emb [n, D]; accumulates every parameter gradient of the tower.
pub fn tower_bwd<B: Backend>(be: &B, ps: &ParamSet<B>, tw: &Tower, a: &TowerActs<B>, demb: &B::Buf) {
    let v = |i: usize| &ps.get(i).value;
    let gr = |i: usize| &ps.get(i).grad;
    let (n, t, c, dd) = (a.n, a.t, tw.c, tw.embed_dim);
    be.fill(&a.dproj, 0.0);
    be.l2norm_bwd(&a.dproj, demb, &a.emb, &a.norm, n, dd);
    linear_bwd(be, Some((&a.dpooled, false)), gr(tw.head), None, &a.dproj, &a.pooled, v(tw.head), n, c, dd);
    // d(lnf) lives in dx_b; d(last block output) in dx_a
    be.fill(&a.dx_b, 0.0);
    be.mean_pool_bwd(&a.dx_b, &a.dpooled, &a.lens, n, t, c);
    let last = a.blocks.last().map(|s| &s.y).unwrap_or(&a.x0);
    be.fill(&a.dx_a, 0.0);
    be.layernorm_bwd(&a.dx_a, gr(tw.lnf_w), gr(tw.lnf_b), &a.dx_b, last, &a.lnf_mean, &a.lnf_rstd, v(tw.lnf_w), n * t, c);
    let d = tw.dims(n, t);
    // walk the blocks backwards; block i's input is block i−1's output (or x0)
    for i in (0..tw.blocks.len()).rev() {
        let x = if i == 0 { &a.x0 } else { &a.blocks[i - 1].y };
        block_bwd(be, ps, &tw.blocks[i], &a.blocks[i], &a.scratch, x, &a.lens, &a.dx_a, &a.dx_a, d);
    }
    // dx_a now holds ∂ℓ/∂x0
    match &a.low {
        Some(low) => {
            be.fill(&low.dpos, 0.0);
            be.add_pos_bwd(&low.dpos, &a.dx_a, n, t, c);
            be.area_resize_bwd(gr(tw.pos), &low.dpos, 1, tw.grid(), tw.low_grid(), c);
        }
        None => be.add_pos_bwd(gr(tw.pos), &a.dx_a, n, t, c),
    }
    match tw.kind {
        TowerKind::Image => {
            let patches = a.patches.as_ref().expect("image acts have patches");
            let pd = tw.patch * tw.patch * 3;
            linear_bwd(be, None, gr(tw.front_w), tw.front_b.map(gr), &a.dx_a, patches, v(tw.front_w), n * t, pd, c);
        }
        TowerKind::Text => be.embed_bwd(gr(tw.front_w), &a.input, &a.dx_a, n * t, c, tw.vocab),
    }
}
