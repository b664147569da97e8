//! jest-wgpu: JEST (joint example selection, arXiv 2406.17711) for multimodal contrastive
//! learning — every kernel in WGSL through wgpu, with a plain-Rust twin of each.

pub mod backend;
pub mod batch;
pub mod config;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod cpu;
pub mod data;
pub mod demo;
pub mod eval;
pub mod gpu;
pub mod jest;
pub mod model;
pub mod report;
pub mod train;
pub mod util;
