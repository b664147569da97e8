//! FLOPs of a step, counted from the shapes (a multiply-add is 2 FLOPs; elementwise ops,
//! norms and softmax are left out — they are a few percent at these widths). Counted as run:
//! a method whose learner scores the super-batch at full resolution reuses that forward's
//! activations for training, so JEST costs F·(2 + B/b) as in JEST.md; Flexi-JEST scores at low
//! resolution, so it recomputes its training image forward but reuses the text tower's.

use super::method::Method;
use crate::config::ModelConfig;
use crate::report::Flops;

/// One transformer block on n sequences of t tokens.
fn block(cfg: &ModelConfig, n: f64, t: f64) -> f64 {
    let c = cfg.width as f64;
    let h = (cfg.mlp_ratio * cfg.width) as f64;
    let proj = 2.0 * n * t * (c * 3.0 * c + c * c + 2.0 * c * h);
    let attn = 2.0 * 2.0 * n * t * t * c; // q·k and att·v over all heads
    proj + attn
}

/// Forward of the image tower on n images of `t_img` tokens (either resolution: same patch).
pub fn image_forward(cfg: &ModelConfig, n: usize, t_img: usize) -> f64 {
    let (n, c, d, ti) = (n as f64, cfg.width as f64, cfg.embed_dim as f64, t_img as f64);
    2.0 * n * ti * cfg.patch_dim() as f64 * c + cfg.depth as f64 * block(cfg, n, ti) + 2.0 * n * c * d
}

/// Forward of the text tower on n captions.
pub fn text_forward(cfg: &ModelConfig, n: usize) -> f64 {
    let (n, c, d) = (n as f64, cfg.width as f64, cfg.embed_dim as f64);
    cfg.depth as f64 * block(cfg, n, cfg.text_len as f64) + 2.0 * n * c * d
}

/// Forward of both towers on n examples (image tokens `t_img`).
pub fn towers_forward(cfg: &ModelConfig, n: usize, t_img: usize) -> f64 {
    image_forward(cfg, n, t_img) + text_forward(cfg, n)
}

/// FLOPs of one learner step with sub-batch b, super-batch bsz. Flexi-JEST scores at
/// `flexi.0` px ((size/patch)² image tokens) and trains `flexi.1` of the b there, the rest at
/// full resolution; `flexi` is ignored for the other methods.
pub fn step_flops(cfg: &ModelConfig, b: usize, bsz: usize, method: Method, flexi: (usize, usize)) -> Flops {
    let d = cfg.embed_dim as f64;
    let t = cfg.image_tokens();
    let t_low = (flexi.0 / cfg.patch).pow(2);
    let loss = 2.0 * (b * b) as f64 * d;
    let train = if method.flexi() {
        let n_low = flexi.1.min(b);
        // the text forward was the scoring forward's (gathered): only its backward is paid
        3.0 * (image_forward(cfg, b - n_low, t) + image_forward(cfg, n_low, t_low) + loss) + 2.0 * text_forward(cfg, b)
    } else if method.reuses_scoring_forward() {
        2.0 * towers_forward(cfg, b, t) + 3.0 * loss // the forward was the scoring forward's
    } else {
        3.0 * (towers_forward(cfg, b, t) + loss)
    };
    let t_score = if method.flexi() { t_low } else { t };
    let learner = if method.needs_learner_scoring() { towers_forward(cfg, bsz, t_score) + 2.0 * (bsz * bsz) as f64 * d } else { 0.0 };
    let reference = if method.needs_reference() { 2.0 * (bsz * bsz) as f64 * d } else { 0.0 };
    Flops { train, learner_scoring: learner, reference_scoring: reference, total: train + learner + reference }
}
