//! The interactive demo behind the web page: its settings (the page's URL state), its data (a
//! browser-sized slice of the builtin splits) and a `Session` that steps a selecting learner
//! and a uniform one side by side. Plain Rust, generic over the backend: the wasm bindings
//! (`wasm.rs`) run it on WebGPU or the CPU twin in the browser, and native tests run the same
//! code to check the page against it.

#[cfg(not(target_arch = "wasm32"))]
pub mod assets;
pub mod session;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::batch::Encoded;
use crate::config::Preset;
use crate::data::{Dataset, SplitName, Tokenizer};
use crate::jest::method::METHOD_NAMES;
use crate::jest::{Method, SelectConfig};

pub use session::{Session, StepReport};

/// The demo's preset (the tiny model at b = 32).
pub const PRESET: &str = "browser";
/// Steps over which the learning-rate schedule (warm-up, then cosine) runs in the demo.
pub const SCHEDULE_STEPS: usize = 1000;

/// Everything the page can set, with its defaults; the whole of it lives in the page's URL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoSettings {
    pub method: String,
    /// (URL key `f`, also accepted here)
    #[serde(alias = "f")]
    pub filter_ratio: f64,
    pub chunks: usize,
    /// (URL key `gain`, also accepted here)
    #[serde(alias = "gain")]
    pub score_gain: f32,
    pub lr: f32,
    pub seed: u64,
    pub batch: usize,
    /// evaluate both learners on the test slice every this many steps
    pub eval_every: usize,
}

impl Default for DemoSettings {
    fn default() -> Self {
        DemoSettings { method: "jest".into(), filter_ratio: 0.8, chunks: 4, score_gain: 1.0, lr: 3e-3, seed: 0, batch: 32, eval_every: 5 }
    }
}

impl DemoSettings {
    /// Parse the page's JSON; any field may be missing (default), none may be unknown.
    pub fn from_json(json: &str) -> Result<DemoSettings> {
        let s: DemoSettings = serde_json::from_str(if json.trim().is_empty() { "{}" } else { json }).context("settings")?;
        s.validate()?;
        Ok(s)
    }

    pub fn method(&self) -> Result<Method> {
        Method::parse(&self.method).map_err(|_| anyhow::anyhow!("unknown method `{}`; choose one of: {}", self.method, METHOD_NAMES.join(", ")))
    }

    pub fn select(&self) -> SelectConfig {
        SelectConfig::new(self.filter_ratio, self.chunks, self.score_gain)
    }

    /// Every impossible value named, with what would be valid.
    pub fn validate(&self) -> Result<()> {
        self.method()?;
        if !(4..=128).contains(&self.batch) {
            bail!("batch must lie in 4..=128 for the demo (got {})", self.batch);
        }
        // the command line's messages, with the flags renamed to this JSON's keys
        let keys = |e: anyhow::Error| anyhow::anyhow!("{}", e.to_string().replace("--filter-ratio", "filter_ratio").replace("--score-gain", "score_gain").replace("--", ""));
        let bsz = self.select().super_batch(self.batch).map_err(keys)?;
        if bsz > 640 {
            bail!("filter_ratio {} gives a super-batch of {bsz}: too large for a browser tab (at most 640; lower filter_ratio)", self.filter_ratio);
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 0.1) {
            bail!("lr must lie in (0, 0.1] (got {})", self.lr);
        }
        if self.eval_every == 0 {
            bail!("eval_every must be at least 1");
        }
        Ok(())
    }

    /// The browser preset with this batch size and learning rate.
    pub fn preset(&self, vocab: usize) -> Result<Preset> {
        let mut p = Preset::named(PRESET, vocab)?;
        p.train.batch = self.batch;
        p.train.lr = self.lr;
        p.train.log_every = 1;
        p.train.warmup_frac = 5.0 / SCHEDULE_STEPS as f32; // a short warm-up: the page should move at once
        Ok(p)
    }
}

/// The demo's data: the three split slices, tokenised once, alive for the whole page.
pub struct DemoData {
    pub curated: Encoded<'static>,
    pub pool: Encoded<'static>,
    pub test: Encoded<'static>,
    pub tok: Tokenizer,
}

impl DemoData {
    /// From the files `demo::assets` writes (manifest + PNG atlas + TSV per split) in the folder
    /// `dir` (named in errors). The datasets are leaked on purpose: the page loads them once and
    /// keeps them to the end.
    pub fn from_files(manifest: &str, files: [(&[u8], &[u8]); 3], dir: &str) -> Result<DemoData> {
        let manifest: serde_json::Value = serde_json::from_str(manifest).with_context(|| format!("the demo's {dir}/manifest.json is not valid JSON"))?;
        let tok = Tokenizer::builtin()?;
        let text_len = Preset::named(PRESET, tok.vocab_size())?.model.text_len;
        let mut enc = Vec::new();
        for (split, (png, tsv)) in SplitName::ALL.into_iter().zip(files) {
            let ds = crate::data::load_split_parts(&manifest, png, tsv, split, dir)?;
            let ds: &'static Dataset = Box::leak(Box::new(ds));
            enc.push(Encoded::new(ds, &tok, text_len));
        }
        let test = enc.pop().unwrap();
        let pool = enc.pop().unwrap();
        let curated = enc.pop().unwrap();
        Ok(DemoData { curated, pool, test, tok })
    }

    /// The builtin splits cut to the demo's slice (native: tests and `web-assets`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn builtin_slice() -> Result<DemoData> {
        let tok = Tokenizer::builtin()?;
        let text_len = Preset::named(PRESET, tok.vocab_size())?.model.text_len;
        let [c, p, t] = assets::slice_builtin()?;
        let enc = |ds: Dataset| Encoded::new(Box::leak(Box::new(ds)), &tok, text_len);
        Ok(DemoData { curated: enc(c), pool: enc(p), test: enc(t), tok: tok.clone() })
    }
}
