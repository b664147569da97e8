//! `--backend auto|gpu|cpu`: which implementation runs, and why (said in one line).

use anyhow::{Context, Result};

use crate::cpu::CpuBackend;
use crate::gpu::{list_adapters, GpuBackend, GpuContext};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// a hardware GPU if there is one, else the CPU backend
    Auto,
    /// wgpu even on a software adapter (lavapipe)
    Gpu,
    /// the plain-Rust twins
    Cpu,
}

/// An opened backend.
pub enum Chosen {
    Cpu(CpuBackend),
    Gpu(GpuBackend),
}

/// Open the backend for `choice`; returns it with a one-line reason.
pub fn open(choice: BackendChoice) -> Result<(Chosen, String)> {
    match choice {
        BackendChoice::Cpu => Ok((Chosen::Cpu(CpuBackend::new()), "cpu (--backend cpu)".into())),
        BackendChoice::Gpu => {
            let ctx = GpuContext::new_blocking(true).context("--backend gpu: cannot open a GPU (--backend cpu runs without one)")?;
            let why = format!("gpu on {} (--backend gpu{})", ctx.adapter.name, if ctx.adapter.hardware { "" } else { ", software adapter" });
            Ok((Chosen::Gpu(GpuBackend::new(ctx)), why))
        }
        BackendChoice::Auto => {
            let adapters = list_adapters();
            if adapters.iter().any(|a| a.hardware) {
                let ctx = GpuContext::new_blocking(false).context("auto: a hardware GPU was listed but could not be opened (--backend cpu runs without it)")?;
                let why = format!("gpu on {} (auto: hardware GPU found)", ctx.adapter.name);
                Ok((Chosen::Gpu(GpuBackend::new(ctx)), why))
            } else {
                let soft: Vec<_> = adapters.iter().map(|a| a.name.clone()).collect();
                let why = if soft.is_empty() {
                    "cpu (auto: no GPU adapter found)".to_string()
                } else {
                    format!("cpu (auto: only software adapters found: {}; --backend gpu forces them)", soft.join(", "))
                };
                Ok((Chosen::Cpu(CpuBackend::new()), why))
            }
        }
    }
}

/// Run a generic function on whichever backend was chosen.
#[macro_export]
macro_rules! with_backend {
    ($chosen:expr, |$be:ident| $body:expr) => {
        match $chosen {
            $crate::cli::backend_choice::Chosen::Cpu($be) => $body,
            $crate::cli::backend_choice::Chosen::Gpu($be) => $body,
        }
    };
}
