//! The learner's selection methods and their settings (filter ratio, chunks, score gain).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::backend::ScoreMode;

/// How the learner picks its sub-batch of b from a super-batch of B = b / (1 − f).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// the first b of the (random) super-batch: no scoring
    Uniform,
    /// joint sampling with A = L(learner): chases noise
    HardLearner,
    /// joint sampling with A = −L(reference): CLIP-score-like filtering, no learner scoring
    EasyRef,
    /// joint sampling with A = L(learner) − L(reference) — JEST (`jest` is the same method)
    Learnability,
    /// b drawn by each example's own learnability A_ii alone (RHO-LOSS-style independent
    /// baseline): Gumbel-top-b of g·A_ii, i.e. top-b in the limit of large gain
    IndependentLearnability,
    /// JEST with the learner scoring at low resolution (default half the side: 4× fewer image
    /// tokens, same weights) and training a random share of each batch (default ½) there
    FlexiJest,
}

pub const METHOD_NAMES: &[&str] = &["uniform", "hard-learner", "easy-ref", "learnability", "jest", "independent-learnability", "flexi-jest"];

impl Method {
    pub fn parse(s: &str) -> Result<Method> {
        Ok(match s {
            "uniform" => Method::Uniform,
            "hard-learner" => Method::HardLearner,
            "easy-ref" => Method::EasyRef,
            "learnability" | "jest" => Method::Learnability,
            "independent-learnability" => Method::IndependentLearnability,
            "flexi-jest" => Method::FlexiJest,
            other => bail!("unknown --method `{other}`; choose one of: {}", METHOD_NAMES.join(", ")),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Uniform => "uniform",
            Method::HardLearner => "hard-learner",
            Method::EasyRef => "easy-ref",
            Method::Learnability => "jest",
            Method::IndependentLearnability => "independent-learnability",
            Method::FlexiJest => "flexi-jest",
        }
    }

    /// The score matrix this method samples from (None: no scoring).
    pub fn score_mode(self) -> Option<ScoreMode> {
        match self {
            Method::Uniform => None,
            Method::HardLearner => Some(ScoreMode::HardLearner),
            Method::EasyRef => Some(ScoreMode::EasyRef),
            Method::Learnability | Method::IndependentLearnability | Method::FlexiJest => Some(ScoreMode::Learnability),
        }
    }

    pub fn joint(self) -> bool {
        !matches!(self, Method::IndependentLearnability)
    }

    /// Whether the learner must embed the super-batch to score it.
    pub fn needs_learner_scoring(self) -> bool {
        matches!(self, Method::HardLearner | Method::Learnability | Method::IndependentLearnability | Method::FlexiJest)
    }

    /// Whether the training forward can reuse the learner's scoring forward (full resolution).
    pub fn reuses_scoring_forward(self) -> bool {
        self.needs_learner_scoring() && !self.flexi()
    }

    /// Flexi-JEST: score at low resolution, train at mixed resolution.
    pub fn flexi(self) -> bool {
        self == Method::FlexiJest
    }

    pub fn needs_reference(self) -> bool {
        matches!(self, Method::EasyRef | Method::Learnability | Method::IndependentLearnability | Method::FlexiJest)
    }
}

/// Selection settings shared by every method of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelectConfig {
    /// f = 1 − b/B
    pub filter_ratio: f64,
    /// N chunks of m = b/N
    pub chunks: usize,
    /// g: how close the sampling is to top-k (paper: 100)
    pub score_gain: f32,
    /// Flexi-JEST: image side in pixels at which the learner scores (None: half the side)
    #[serde(default)]
    pub flexi_size: Option<usize>,
    /// Flexi-JEST: share of each sub-batch trained at that low resolution (paper: ½)
    #[serde(default = "half")]
    pub flexi_low_share: f64,
}

fn half() -> f64 {
    0.5
}

/// The most chunks a step may have: the sampler's noise streams are step·1024 + chunk.
pub const MAX_CHUNKS: usize = crate::cpu::select::STREAMS_PER_STEP as usize;

/// The paper's chunk count N, the default of `--chunks`.
pub const DEFAULT_CHUNKS: usize = 16;
/// The paper's score gain g, the default of `--score-gain`.
pub const DEFAULT_SCORE_GAIN: f32 = 100.0;

impl SelectConfig {
    /// Settings with Flexi-JEST's defaults (half-side scoring, half of each batch trained there).
    pub fn new(filter_ratio: f64, chunks: usize, score_gain: f32) -> Self {
        SelectConfig { filter_ratio, chunks, score_gain, flexi_size: None, flexi_low_share: half() }
    }

    /// The settings `method` actually uses: a method that does not score (uniform) draws the
    /// first b of each super-batch whatever the chunks, gain or Flexi settings, so those read
    /// as their defaults — runs that differ only there are the same run.
    pub fn used_by(&self, method: Method) -> Self {
        if method.score_mode().is_some() {
            return self.clone();
        }
        Self::new(self.filter_ratio, DEFAULT_CHUNKS, DEFAULT_SCORE_GAIN)
    }

    /// Every setting, Flexi-JEST's included (`flexi_size` None: half the image).
    pub fn with_flexi(filter_ratio: f64, chunks: usize, score_gain: f32, flexi_size: Option<usize>, flexi_low_share: f64) -> Self {
        SelectConfig { flexi_size, flexi_low_share, ..Self::new(filter_ratio, chunks, score_gain) }
    }

    /// Flexi-JEST's default scoring side: half the image, rounded down to whole patches.
    pub fn default_flexi_size(image_size: usize, patch: usize) -> usize {
        image_size / 2 / patch * patch
    }

    /// Flexi-JEST's low resolution for an image of `image_size` px cut in `patch`-px patches:
    /// (side in px, examples of a sub-batch of b trained there), with clear errors.
    pub fn flexi(&self, image_size: usize, patch: usize, b: usize) -> Result<(usize, usize)> {
        let size = self.flexi_size.unwrap_or(Self::default_flexi_size(image_size, patch));
        if size == 0 || !size.is_multiple_of(patch) || size > image_size {
            bail!(
                "--flexi-size {size}: the low resolution must be a multiple of the {patch}-px patch, at least {patch} and at most the {image_size}-px image (e.g. {})",
                Self::default_flexi_size(image_size, patch).max(patch)
            );
        }
        if !(0.0..=1.0).contains(&self.flexi_low_share) {
            bail!("--flexi-low-share must lie in [0, 1] (got {}): the share of each batch trained at low resolution", self.flexi_low_share);
        }
        Ok((size, (b as f64 * self.flexi_low_share).round() as usize))
    }
    /// B for a sub-batch of b, with clear errors for impossible settings.
    pub fn super_batch(&self, b: usize) -> Result<usize> {
        if !(0.0..1.0).contains(&self.filter_ratio) {
            bail!("--filter-ratio must lie in [0, 1) (got {}): f = 1 − b/B", self.filter_ratio);
        }
        if self.chunks == 0 || !b.is_multiple_of(self.chunks) {
            bail!("--chunks ({}) must divide the batch size b ({b})", self.chunks);
        }
        if self.chunks > MAX_CHUNKS {
            // the sampler's noise for chunk n of step s is stream s·1024 + n: more chunks would
            // draw the next step's noise
            bail!("--chunks ({}) must be at most {MAX_CHUNKS}; use fewer, larger chunks", self.chunks);
        }
        if !self.score_gain.is_finite() || self.score_gain <= 0.0 {
            bail!("--score-gain must be a positive number (got {})", self.score_gain);
        }
        Ok(((b as f64) / (1.0 - self.filter_ratio)).round() as usize)
    }
}
