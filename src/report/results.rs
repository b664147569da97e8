//! The shape of `results.json` written by `jest-wgpu compare` (an interface scripts read).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::eval::EvalResult;

/// One held-out evaluation point of a learner run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CurveRow {
    pub step: usize,
    /// examples trained on so far (step · b)
    pub examples: usize,
    /// FLOPs spent so far, scoring included
    pub flops: f64,
    pub zero_shot_acc: f64,
    pub i2t_r1: f64,
    pub t2i_r1: f64,
    pub i2t_r5: f64,
    pub t2i_r5: f64,
    /// mean of i2t_r1 and t2i_r1, smoothed over the last `smooth` evaluations
    pub r1_smoothed: f64,
    /// standard error of the mean R@1 over the held-out items (binomial)
    pub r1_stderr: f64,
    /// mean training loss since the previous row
    pub loss: f64,
}

/// What the selection picked, aggregated between two evaluation points.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SelectionRow {
    pub step: usize,
    /// share of the selected examples per noise kind ("clean", "mismatched", …)
    pub noise_share: BTreeMap<String, f64>,
    /// mean joint learnability of the chosen sub-batches: Σ_{i,j∈S} A_ij / b² (gain removed);
    /// NaN (null in JSON) without a reference
    #[serde(deserialize_with = "nan_from_null")]
    pub learnability: f64,
}

/// JSON has no NaN (serde_json writes null): read null back as NaN.
fn nan_from_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// FLOPs of one learner step, counted from the shapes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Flops {
    /// forward + backward on the sub-batch: 3 forward passes, or 2 where the training
    /// forward reuses the learner's scoring forward
    pub train: f64,
    /// learner forward on the super-batch (inference), at scoring resolution
    pub learner_scoring: f64,
    /// the reference half of the score matrix (cached embeddings: one B×B product)
    pub reference_scoring: f64,
    pub total: f64,
}

/// One learner run: a method at a filter ratio and seed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MethodResult {
    pub method: String,
    pub seed: u64,
    pub filter_ratio: f64,
    pub curve: Vec<CurveRow>,
    #[serde(rename = "final")]
    pub final_: CurveRow,
    pub ms_per_step: f64,
    /// of which: scoring (learner forward + score matrix) and sampling
    pub ms_scoring: f64,
    pub ms_sampling: f64,
    pub flops_per_step: Flops,
    /// share of all selected examples per noise kind, over the whole run
    pub selected_noise_share: BTreeMap<String, f64>,
    pub selection: Vec<SelectionRow>,
    pub losses: Vec<f32>,
}

/// Aggregate over seeds of one (method, filter ratio).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SummaryRow {
    pub method: String,
    pub filter_ratio: f64,
    pub seeds: usize,
    pub final_r1_mean: f64,
    pub final_r1_std: f64,
    /// final R@1 divided by uniform's (same filter ratio and seeds)
    pub r1_vs_uniform: f64,
    /// uniform's first step at uniform's final smoothed R@1 ÷ this method's first step there
    /// (None: never reached)
    pub steps_speedup: Option<f64>,
    /// same in total FLOPs (scoring included)
    pub flops_speedup: Option<f64>,
    /// uniform's whole run (its last step) ÷ this method's first step at uniform's final smoothed
    /// R@1: the form of the paper's figures (the 3B-example uniform run's final quality with 1B
    /// examples: 3×)
    pub steps_speedup_whole_run: Option<f64>,
    /// same in total FLOPs (scoring included): uniform's FLOPs for its whole run ÷ this
    /// method's FLOPs to reach uniform's final R@1
    pub flops_speedup_whole_run: Option<f64>,
    pub clean_share_mean: f64,
}

/// Everything `compare` measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CompareResults {
    pub preset: String,
    pub seed: u64,
    pub seeds: Vec<u64>,
    pub backend: String,
    pub adapter: String,
    pub filter_ratio: f64,
    pub filter_ratios: Vec<f64>,
    pub chunks: usize,
    pub score_gain: f64,
    /// Flexi-JEST: the image side (px) it scores at and the share of each batch trained there
    /// (reports written before these options used 16 px and ½)
    #[serde(default = "sixteen")]
    pub flexi_size: usize,
    #[serde(default = "half")]
    pub flexi_low_share: f64,
    pub steps: usize,
    pub batch: usize,
    pub eval_every: usize,
    /// the held-out set every evaluation used: `test` or `validation` (reports written before
    /// the option existed used `test`)
    #[serde(default = "test_split")]
    pub eval_split: String,
    /// share of each noise kind in the pool (what uniform sampling sees)
    pub pool_noise_share: BTreeMap<String, f64>,
    pub reference_steps: usize,
    pub reference_eval: EvalResult,
    /// per method, at the first filter ratio and seed
    pub methods: BTreeMap<String, MethodResult>,
    /// every run (all methods × filter ratios × seeds)
    pub runs: Vec<MethodResult>,
    pub summary: Vec<SummaryRow>,
    pub wall_seconds: f64,
}

fn test_split() -> String {
    "test".into()
}

fn sixteen() -> usize {
    16
}

fn half() -> f64 {
    0.5
}
