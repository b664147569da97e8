//! JEST: selection methods, reference-embedding cache, learner training with the joint
//! sampler, FLOPs accounting, and the `compare` experiment.

pub mod cache;
#[cfg(not(target_arch = "wasm32"))]
pub mod compare;
pub mod curate;
pub mod flops;
pub mod learner;
pub mod method;
pub mod resume;
pub mod step;

pub use method::{Method, SelectConfig, DEFAULT_CHUNKS, DEFAULT_SCORE_GAIN};
