//! FLOPs of a step, counted from the shapes (a multiply-add is 2 FLOPs; elementwise ops,
//! norms and softmax are left out — they are a few percent at these widths). Counted as run:
//! the sub-batch forward is recomputed after scoring, so JEST costs F·(3 + B/b) here, not the
//! F·(2 + B/b) of JEST.md, which reuses the scoring forward's activations.

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

/// Forward of both towers on n examples (image tokens `t_img`).
pub fn towers_forward(cfg: &ModelConfig, n: usize, t_img: usize) -> f64 {
    let (n, c, d) = (n as f64, cfg.width as f64, cfg.embed_dim as f64);
    let ti = t_img as f64;
    let tt = cfg.text_len as f64;
    let patch_dim = cfg.patch_dim() as f64; // same patch at either resolution
    let image = 2.0 * n * ti * patch_dim * c + cfg.depth as f64 * block(cfg, n, ti) + 2.0 * n * c * d;
    let text = cfg.depth as f64 * block(cfg, n, tt) + 2.0 * n * c * d;
    image + text
}

/// FLOPs of one learner step with sub-batch b, super-batch bsz. Flexi-JEST scores at low
/// resolution (¼ of the image tokens) and trains half of each batch at each resolution.
pub fn step_flops(cfg: &ModelConfig, b: usize, bsz: usize, method: Method) -> Flops {
    let d = cfg.embed_dim as f64;
    let t = cfg.image_tokens();
    let t_low = (cfg.image_size / cfg.patch / 2).pow(2);
    let loss = 2.0 * (b * b) as f64 * d;
    let train = if method.flexi() {
        3.0 * (0.5 * towers_forward(cfg, b, t) + 0.5 * towers_forward(cfg, b, t_low) + loss)
    } else {
        3.0 * (towers_forward(cfg, b, t) + loss)
    };
    let t_score = if method.flexi() { t_low } else { t };
    let learner = if method.needs_learner_scoring() { towers_forward(cfg, bsz, t_score) + 2.0 * (bsz * bsz) as f64 * d } else { 0.0 };
    let reference = if method.needs_reference() { 2.0 * (bsz * bsz) as f64 * d } else { 0.0 };
    Flops { train, learner_scoring: learner, reference_scoring: reference, total: train + learner + reference }
}
