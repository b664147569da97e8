//! The two-tower SigLIP model: image ViT + text transformer, each projected and L2-normalised,
//! trained with the sigmoid contrastive loss (learnable temperature t = exp(t′) and bias β).

pub mod block;
pub mod params;
pub mod tower;

use std::collections::HashMap;

use anyhow::Result;

use crate::backend::{AdamHp, Backend};
use crate::config::ModelConfig;
use params::{Init, ParamSet, ParamSpecs};
use tower::{tower_bwd, tower_fwd, Tower, TowerActs, TowerKind};

/// A batch on the host, ready to upload.
#[derive(Clone, Debug, Default)]
pub struct HostBatch {
    pub n: usize,
    /// [n, s, s, 3] in [-1, 1]
    pub images: Vec<f32>,
    /// [n, text_len] token ids (padded)
    pub tokens: Vec<u32>,
    /// [n] valid tokens (≥ 1)
    pub lens: Vec<u32>,
}

/// Buffers for one batch size: both towers' activations plus the loss matrices.
pub struct Workspace<B: Backend> {
    pub n: usize,
    pub image: TowerActs<B>,
    pub text: TowerActs<B>,
    /// sims = U·Vᵀ [n,n], per-pair loss [n,n], ∂ℓ/∂sims [n,n]
    pub sims: B::Buf,
    pub lmat: B::Buf,
    pub dsims: B::Buf,
    /// [loss, ∂ℓ/∂t′, ∂ℓ/∂β]
    pub stats: B::Buf,
    pub demb_img: B::Buf,
    pub demb_txt: B::Buf,
}

pub struct DualEncoder<B: Backend> {
    pub cfg: ModelConfig,
    pub params: ParamSet<B>,
    pub image: Tower,
    pub text: Tower,
    /// index of `loss.t_bias` = (t′, β)
    pub t_bias: usize,
    /// by (batch size, low resolution)
    workspaces: HashMap<(usize, bool), Workspace<B>>,
    gnorm2: B::Buf,
}

impl<B: Backend> DualEncoder<B> {
    /// A freshly initialised model; the same seed gives the same weights on every backend.
    pub fn new(be: &B, cfg: &ModelConfig, seed: u32, batch: usize) -> Self {
        let mut specs = ParamSpecs::default();
        let image = Tower::new(&mut specs, TowerKind::Image, cfg);
        let text = Tower::new(&mut specs, TowerKind::Text, cfg);
        // t = 10 as in SigLIP; β = −ln(b) suits small batches (open_clip #650)
        let t_bias = specs.add("loss.t_bias".into(), &[2], Init::Value(10f32.ln(), -(batch.max(2) as f32).ln()));
        let params = ParamSet::new(be, specs, seed);
        DualEncoder { cfg: cfg.clone(), params, image, text, t_bias, workspaces: HashMap::new(), gnorm2: be.zeros(1) }
    }

    pub fn num_params(&self) -> usize {
        self.params.count()
    }

    /// Set the image side of the low-resolution path (Flexi-JEST), in pixels; workspaces
    /// already built at the old low resolution are dropped. The caller validates the size.
    pub fn set_low_size(&mut self, px: usize) {
        if self.image.low_size != px {
            self.image.low_size = px;
            self.workspaces.retain(|&(_, low), _| !low);
        }
    }

    /// The workspace for batch size n (allocated on first use, then reused).
    pub fn workspace(&mut self, be: &B, n: usize) -> &Workspace<B> {
        self.workspace_at(be, n, false)
    }

    /// The workspace for batch size n at full or low (Flexi-JEST) image resolution.
    pub fn workspace_at(&mut self, be: &B, n: usize, lowres: bool) -> &Workspace<B> {
        let (image, text) = (&self.image, &self.text);
        self.workspaces.entry((n, lowres)).or_insert_with(|| Workspace {
            n,
            image: TowerActs::new(be, image, n, lowres),
            text: TowerActs::new(be, text, n, false),
            sims: be.zeros(n * n),
            lmat: be.zeros(n * n),
            dsims: be.zeros(n * n),
            stats: be.zeros(3),
            demb_img: be.zeros(n * image.embed_dim),
            demb_txt: be.zeros(n * text.embed_dim),
        })
    }

    /// Upload a batch into the workspace of its size.
    pub fn upload(&mut self, be: &B, batch: &HostBatch) {
        self.upload_at(be, batch, false)
    }

    /// Upload a batch into the (full or low resolution) workspace of its size.
    pub fn upload_at(&mut self, be: &B, batch: &HostBatch, lowres: bool) {
        let ws = self.workspace_at(be, batch.n, lowres);
        be.write(&ws.image.input, &batch.images);
        be.write_u32(&ws.text.input, &batch.tokens);
        be.write_u32(&ws.text.lens, &batch.lens);
    }

    /// Forward both towers and the loss on the uploaded batch of size n: fills emb, sims,
    /// lmat (per-pair losses), dsims and stats.
    pub fn forward(&mut self, be: &B, n: usize) {
        self.forward_towers(be, n);
        self.loss_fwd(be, n);
    }

    /// sims = U·Vᵀ and the sigmoid loss on ws(n)'s embeddings.
    fn loss_fwd(&self, be: &B, n: usize) {
        let ws = &self.workspaces[&(n, false)];
        let d = self.cfg.embed_dim;
        be.matmul(&ws.sims, &ws.image.emb, &ws.text.emb, None, n, d, n, false, true, false);
        be.siglip_loss(&ws.lmat, &ws.dsims, &ws.stats, &ws.sims, &self.params.get(self.t_bias).value, n);
    }

    /// The training forward of a sub-batch that a scoring forward already computed: rows
    /// `idx` (u32 [n]) of ws(n_big)'s activations gathered into ws(n), then the loss. Same
    /// result as uploading those examples and calling `forward(n)`, without the towers' FLOPs.
    pub fn forward_gathered(&mut self, be: &B, n_big: usize, idx: &B::Buf, n: usize) {
        self.workspace_at(be, n, false);
        let (big, ws) = (&self.workspaces[&(n_big, false)], &self.workspaces[&(n, false)]);
        ws.image.gather_from(be, &big.image, idx);
        ws.text.gather_from(be, &big.text, idx);
        self.loss_fwd(be, n);
    }

    /// Both towers only (inference, e.g. scoring a super-batch): fills ws(n).{image,text}.emb.
    pub fn forward_towers(&mut self, be: &B, n: usize) {
        self.forward_towers_at(be, n, false)
    }

    /// Both towers at full or low image resolution.
    pub fn forward_towers_at(&mut self, be: &B, n: usize, lowres: bool) {
        self.workspace_at(be, n, lowres);
        let ws = &self.workspaces[&(n, lowres)];
        tower_fwd(be, &self.params, &self.image, &ws.image);
        tower_fwd(be, &self.params, &self.text, &ws.text);
    }

    /// Zero the grads, then ∂ℓ/∂U, ∂ℓ/∂V (sims = U·Vᵀ: dU = dsims·V, dV = dsimsᵀ·U) and ∂ℓ/∂(t′, β).
    fn loss_bwd(&self, be: &B, n: usize) {
        let ws = &self.workspaces[&(n, false)];
        let d = self.cfg.embed_dim;
        self.params.zero_grads(be);
        be.matmul(&ws.demb_img, &ws.dsims, &ws.text.emb, None, n, n, d, false, false, false);
        be.matmul(&ws.demb_txt, &ws.dsims, &ws.image.emb, None, n, n, d, true, false, false);
        be.copy(&self.params.get(self.t_bias).grad, 0, &ws.stats, 1, 2);
    }

    /// Backward after `forward(n)`: zeroes and fills every parameter gradient.
    pub fn backward(&mut self, be: &B, n: usize) {
        self.loss_bwd(be, n);
        let ws = &self.workspaces[&(n, false)];
        tower_bwd(be, &self.params, &self.image, &ws.image, &ws.demb_img);
        tower_bwd(be, &self.params, &self.text, &ws.text, &ws.demb_txt);
    }

    /// Forward of a batch of n trained at two resolutions (Flexi-JEST): the first n − n_low
    /// images at full resolution, the last n_low at low resolution, every text at full length;
    /// the loss is over all n. The batch must be in the full-resolution workspace of n.
    /// `text_rows` = (n_big, idx u32 [n]): the texts' activations are rows idx of the
    /// low-resolution workspace of n_big — a Flexi-JEST scoring forward, whose text tower saw
    /// the same captions — gathered instead of recomputed (same result, no text forward).
    pub fn forward_mixed(&mut self, be: &B, n: usize, n_low: usize, text_rows: Option<(usize, &B::Buf)>) {
        let h = n - n_low;
        self.workspace_at(be, n, false);
        if n_low > 0 {
            self.workspace_at(be, n_low, true);
            if h > 0 {
                self.workspace_at(be, h, false);
            }
        }
        let w = &self.workspaces[&(n, false)];
        if n_low == 0 {
            tower_fwd(be, &self.params, &self.image, &w.image);
        } else {
            let wl = &self.workspaces[&(n_low, true)];
            let (px, d) = (self.cfg.image_size.pow(2) * 3, self.cfg.embed_dim);
            be.copy(&wl.image.input, 0, &w.image.input, h * px, n_low * px);
            tower_fwd(be, &self.params, &self.image, &wl.image);
            be.copy(&w.image.emb, h * d, &wl.image.emb, 0, n_low * d);
            if h > 0 {
                let wf = &self.workspaces[&(h, false)];
                be.copy(&wf.image.input, 0, &w.image.input, 0, h * px);
                tower_fwd(be, &self.params, &self.image, &wf.image);
                be.copy(&w.image.emb, 0, &wf.image.emb, 0, h * d);
            }
        }
        match text_rows {
            Some((n_big, idx)) => w.text.gather_from(be, &self.workspaces[&(n_big, true)].text, idx),
            None => tower_fwd(be, &self.params, &self.text, &w.text),
        }
        self.loss_fwd(be, n);
    }

    /// Backward after `forward_mixed(n, n_low)`.
    pub fn backward_mixed(&mut self, be: &B, n: usize, n_low: usize) {
        let h = n - n_low;
        if n_low == 0 {
            return self.backward(be, n);
        }
        self.loss_bwd(be, n);
        let (w, wl) = (&self.workspaces[&(n, false)], &self.workspaces[&(n_low, true)]);
        let d = self.cfg.embed_dim;
        be.copy(&wl.demb_img, 0, &w.demb_img, h * d, n_low * d);
        if h > 0 {
            let wf = &self.workspaces[&(h, false)];
            be.copy(&wf.demb_img, 0, &w.demb_img, 0, h * d);
            tower_bwd(be, &self.params, &self.image, &wf.image, &wf.demb_img);
        }
        tower_bwd(be, &self.params, &self.image, &wl.image, &wl.demb_img);
        tower_bwd(be, &self.params, &self.text, &w.text, &w.demb_txt);
    }

    /// AdamW on every parameter with global-norm clipping (no read-back): over the two flat
    /// slabs where the parameters are flat (GPU), else tensor by tensor.
    pub fn optimizer_step(&mut self, be: &B, hp: &AdamHp) {
        be.fill(&self.gnorm2, 0.0);
        for g in self.params.grad_buffers() {
            be.sumsq(&self.gnorm2, g);
        }
        for p in self.params.update_groups() {
            let hp = AdamHp { weight_decay: if p.decay { hp.weight_decay } else { 0.0 }, ..*hp };
            be.adamw(&p.value, &p.grad, &p.m, &p.v, &self.gnorm2, &hp);
        }
    }

    /// The workspace of batch size n (after `workspace`/`forward`).
    pub fn ws(&self, n: usize) -> &Workspace<B> {
        &self.workspaces[&(n, false)]
    }

    /// The workspace of batch size n at full or low resolution.
    pub fn ws_at(&self, n: usize, lowres: bool) -> &Workspace<B> {
        &self.workspaces[&(n, lowres)]
    }

    /// Embeddings of a host batch: (image [n,D], text [n,D]) read back without blocking
    /// (natively, `block_on` it; `eval::embed_all` does).
    pub async fn embed_async(&mut self, be: &B, batch: &HostBatch) -> Result<(Vec<f32>, Vec<f32>)> {
        self.upload(be, batch);
        self.forward_towers(be, batch.n);
        let ws = &self.workspaces[&(batch.n, false)];
        Ok((be.read_async(&ws.image.emb).await?, be.read_async(&ws.text.emb).await?))
    }

    /// Text embeddings only (zero-shot class prompts).
    pub fn embed_text(&mut self, be: &B, batch: &HostBatch) -> Result<Vec<f32>> {
        let n = batch.n;
        self.workspace(be, n);
        let ws = &self.workspaces[&(n, false)];
        be.write_u32(&ws.text.input, &batch.tokens);
        be.write_u32(&ws.text.lens, &batch.lens);
        tower_fwd(be, &self.params, &self.text, &ws.text);
        be.read(&ws.text.emb)
    }

    /// Drop cached workspaces (frees memory after evaluation with large batches).
    pub fn release_workspaces(&mut self) {
        self.workspaces.clear();
    }

    /// Whether a full-resolution workspace of batch size n exists.
    pub fn has_workspace(&self, n: usize) -> bool {
        self.workspaces.contains_key(&(n, false))
    }

    /// Drop the workspace of batch size n, if any.
    pub fn release_workspace(&mut self, n: usize) {
        self.workspaces.remove(&(n, false));
    }

    pub fn gnorm2(&self) -> &B::Buf {
        &self.gnorm2
    }
}
