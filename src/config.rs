//! Presets (tiny / browser / default / large) for the model and training recipe, with validation that
//! turns impossible configurations into clear errors before any GPU work.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// The most parameters a model may have (1 GiB of f32 weights; Adam and gradients take 3× more).
pub const MAX_PARAMS: u128 = 1 << 28;

/// Architecture of the two-tower model (both towers share width, depth and heads).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// images are image_size × image_size RGB
    pub image_size: usize,
    /// ViT patch side (image tokens = (image_size / patch)²)
    pub patch: usize,
    /// transformer width C
    pub width: usize,
    /// blocks per tower
    pub depth: usize,
    /// attention heads (must divide width)
    pub heads: usize,
    /// MLP hidden = mlp_ratio · width
    pub mlp_ratio: usize,
    /// text tokens per caption (padded/truncated)
    pub text_len: usize,
    /// tokenizer vocabulary size
    pub vocab: usize,
    /// joint embedding dimension D (projection output, L2-normalised)
    pub embed_dim: usize,
}

/// The optimisation recipe (JEST.md: Adam β2 0.95, warm-up + cosine, wd 1e-4, clip 1.0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// sub-batch b (examples per gradient step)
    pub batch: usize,
    pub lr: f32,
    pub min_lr: f32,
    pub warmup_frac: f32,
    pub weight_decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub clip: f32,
    /// read metrics back (and check for NaN) every this many steps
    pub log_every: usize,
    /// write a checkpoint every this many steps (0 = only at the end)
    pub checkpoint_every: usize,
}

/// A named preset: the model and the recipe that goes with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preset {
    pub name: String,
    pub model: ModelConfig,
    pub train: TrainConfig,
}

pub const PRESETS: &[&str] = &["tiny", "browser", "default", "large"];

impl Preset {
    /// `tiny`: tests; `browser`: the web demo; `default`: the 2-core CPU benchmark; `large`: real GPUs.
    pub fn named(name: &str, vocab: usize) -> Result<Preset> {
        let (model, batch) = match name {
            // tiny — tests: 8-px patches (16 image tokens), width 32, one block
            "tiny" => (ModelConfig { image_size: 32, patch: 8, width: 32, depth: 1, heads: 2, mlp_ratio: 2, text_len: 16, vocab, embed_dim: 32 }, 64),
            // browser — the web demo: the tiny model at b = 32, so two learners step live in a tab
            "browser" => (ModelConfig { image_size: 32, patch: 8, width: 32, depth: 1, heads: 2, mlp_ratio: 2, text_len: 16, vocab, embed_dim: 32 }, 32),
            // default — DESIGN.md: patch 4 (64 tokens), width 64, depth 2, 4 heads, MLP ×4
            "default" => (ModelConfig { image_size: 32, patch: 4, width: 64, depth: 2, heads: 4, mlp_ratio: 4, text_len: 16, vocab, embed_dim: 64 }, 64),
            // large — for real GPUs: width 192, depth 4, 6 heads
            "large" => (ModelConfig { image_size: 32, patch: 4, width: 192, depth: 4, heads: 6, mlp_ratio: 4, text_len: 24, vocab, embed_dim: 128 }, 256),
            other => bail!("unknown preset `{other}`; choose one of: {}", PRESETS.join(", ")),
        };
        // small models take a larger step (measured: tiny reaches 2× the R@1 at 3e-3)
        let lr = if matches!(name, "tiny" | "browser") { 3e-3 } else { 1e-3 };
        let train = TrainConfig {
            batch,
            lr,
            min_lr: 1e-5,
            warmup_frac: 0.02,
            weight_decay: 1e-4,
            beta1: 0.9,
            beta2: 0.95,
            clip: 1.0,
            log_every: 10,
            checkpoint_every: 0,
        };
        let p = Preset { name: name.to_string(), model, train };
        p.model.validate()?;
        Ok(p)
    }
}

impl ModelConfig {
    pub fn image_tokens(&self) -> usize {
        (self.image_size / self.patch).pow(2)
    }
    pub fn patch_dim(&self) -> usize {
        self.patch * self.patch * 3
    }
    pub fn head_dim(&self) -> usize {
        self.width / self.heads
    }

    /// Structural checks: zero sizes, heads not dividing width, patches not tiling the image, a
    /// model too large to hold.
    pub fn validate(&self) -> Result<()> {
        let fields = [
            ("image_size", self.image_size),
            ("patch", self.patch),
            ("width", self.width),
            ("depth", self.depth),
            ("heads", self.heads),
            ("mlp_ratio", self.mlp_ratio),
            ("text_len", self.text_len),
            ("vocab", self.vocab),
            ("embed_dim", self.embed_dim),
        ];
        for (name, v) in fields {
            if v == 0 {
                bail!("invalid model config: {name} is 0; every size must be at least 1");
            }
        }
        if !self.width.is_multiple_of(self.heads) {
            bail!("invalid model config: heads ({}) must divide width ({})", self.heads, self.width);
        }
        if !self.image_size.is_multiple_of(self.patch) {
            bail!("invalid model config: patch ({}) must divide image_size ({})", self.patch, self.image_size);
        }
        // before anything is allocated: a checkpoint's spec could ask for a model no machine holds
        // (in f64: any size a file can state stays finite or +inf, never wraps)
        let (c, h) = (self.width as f64, self.mlp_ratio as f64 * self.width as f64);
        let per_block = 4.0 * c * c + 2.0 * c * h + 9.0 * c + h;
        let patch_dim = 3.0 * (self.patch as f64).powi(2);
        let params = 2.0 * self.depth as f64 * per_block + (self.vocab as f64 + patch_dim) * c + 2.0 * c * self.embed_dim as f64;
        if params > MAX_PARAMS as f64 {
            bail!("invalid model config: about {params:.3e} parameters (width {}, depth {}, MLP ×{}, vocab {}), more than the {MAX_PARAMS} this tool trains; the checkpoint or config is not a jest-wgpu model of a size it can hold", self.width, self.depth, self.mlp_ratio, self.vocab);
        }
        if self.image_tokens() > 128 || self.text_len > 128 {
            bail!(
                "invalid model config: at most 128 tokens per sequence (image has {}, text {}); use a larger patch or shorter text",
                self.image_tokens(),
                self.text_len
            );
        }
        Ok(())
    }

    /// The largest single buffer (in bytes) a forward/backward on `n` examples allocates.
    pub fn largest_buffer_bytes(&self, n: usize) -> u64 {
        let t = self.image_tokens().max(self.text_len) as u64;
        let n = n as u64;
        let c = self.width as u64;
        let att = n * self.heads as u64 * t * t;
        let mlp = n * t * c * self.mlp_ratio as u64;
        let sims = n * n;
        let vocab = (self.vocab * self.width) as u64;
        4 * att.max(mlp).max(sims).max(vocab).max(n * t * 3 * c)
    }

    /// A lower bound of the bytes a forward/backward on `n` examples holds: the activations kept
    /// for the backward in every block of both towers (the image tower at `image_tokens` per
    /// image), each tower's gradient scratch, its ends and the n×n similarity matrices.
    pub fn activation_bytes(&self, n: usize, image_tokens: usize) -> u64 {
        let (n, c, h, heads) = (n as u64, self.width as u64, (self.mlp_ratio * self.width) as u64, self.heads as u64);
        let tower = |t: u64| {
            let nt = n * t;
            // h, a, x2, g, y and qkv (8c), fc1 and f (2h), LayerNorm statistics (4), attention
            let block = nt * (8 * c + 2 * h + 4) + n * heads * t * t;
            // the blocks' shared gradient scratch: dh, da, dx2, dg, dqkv (7c), dfc1, df, datt
            let scratch = nt * (7 * c + 2 * h) + n * heads * t * t;
            self.depth as u64 * block + scratch + 4 * nt * c // x0, lnf and two gradient buffers
        };
        4 * (tower(image_tokens as u64) + tower(self.text_len as u64) + 3 * n * n)
    }

    /// On the CPU backend (`backend`), where a failed allocation aborts the process: refuse work
    /// whose activations alone (`workspaces`: examples and image tokens of each) exceed the
    /// memory this machine has available (Linux's MemAvailable; elsewhere, and on a GPU backend,
    /// whose buffers `check_fits` bounds, nothing is checked).
    pub fn check_memory(&self, backend: crate::backend::BackendKind, workspaces: &[(usize, usize)]) -> Result<()> {
        if backend != crate::backend::BackendKind::Cpu {
            return Ok(());
        }
        let need: u64 = workspaces.iter().map(|&(n, t)| self.activation_bytes(n, t)).sum();
        let Some(available) = available_memory() else { return Ok(()) };
        if need > available {
            let sizes: Vec<String> = workspaces.iter().map(|(n, _)| n.to_string()).collect();
            bail!(
                "batches of {} examples need at least {:.1} GiB for their activations, but this machine has {:.1} GiB available; \
                 lower --batch (or the super-batch via --filter-ratio) or use a smaller preset",
                sizes.join(" + "),
                need as f64 / (1u64 << 30) as f64,
                available as f64 / (1u64 << 30) as f64
            );
        }
        Ok(())
    }

    /// Check that a batch of `n` examples fits the backend's buffer limit.
    pub fn check_fits(&self, n: usize, max_buffer_bytes: u64, adapter: &str) -> Result<()> {
        if n == 0 {
            bail!("batch size is 0; use a batch of at least 1");
        }
        let need = self.largest_buffer_bytes(n);
        if need > max_buffer_bytes {
            bail!(
                "a batch of {n} needs a {:.1} MiB buffer but {adapter} allows at most {:.1} MiB per buffer; \
                 lower --batch (or the super-batch via --filter-ratio) or use a smaller preset",
                need as f64 / 1048576.0,
                max_buffer_bytes as f64 / 1048576.0
            );
        }
        Ok(())
    }
}

/// Memory this machine can still give a process (Linux's MemAvailable), if known.
fn available_memory() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let info = std::fs::read_to_string("/proc/meminfo").ok()?;
        let kib: u64 = info.lines().find(|l| l.starts_with("MemAvailable:"))?.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

impl TrainConfig {
    pub fn validate(&self, steps: usize) -> Result<()> {
        if self.batch < 2 {
            bail!("batch must be at least 2 for a contrastive loss (got {})", self.batch);
        }
        if steps == 0 {
            bail!("--steps must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("learning rate must be a positive number (got {})", self.lr);
        }
        if !(0.0..1.0).contains(&self.beta1) || !(0.0..1.0).contains(&self.beta2) {
            bail!("Adam betas must lie in [0, 1) (got {}, {})", self.beta1, self.beta2);
        }
        Ok(())
    }
}
