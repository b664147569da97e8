//! `jest-wgpu compare` and the default job of `cargo run --release`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::json;

use super::backend_choice;
use super::CompareArgs;
use crate::jest::compare::{run_compare, CompareOptions};
use crate::jest::Method;
use crate::with_backend;

/// Reference steps unless --reference-steps says otherwise (or --steps is larger): a reference
/// trained 2,000 steps instead of 600 lifted JEST from 2.6× to 3.6× uniform's R@1 (seed 0;
/// 2.1× to 3.05× over 3 seeds).
pub const DEFAULT_REFERENCE_STEPS: usize = 2000;

fn options(a: &CompareArgs) -> Result<CompareOptions> {
    let steps = a.steps.unwrap_or(600);
    let names: Vec<&str> = if a.methods.trim() == "all" {
        vec!["uniform", "hard-learner", "easy-ref", "independent-learnability", "jest", "flexi-jest"]
    } else {
        a.methods.split(',').map(str::trim).collect()
    };
    let methods: Vec<Method> = names.iter().map(|m| Method::parse(m)).collect::<Result<_>>()?;
    let filter_ratios = a
        .filter_ratios
        .split(',')
        .map(|f| f.trim().parse::<f64>().with_context(|| format!("--filter-ratios: `{f}` is not a number")))
        .collect::<Result<Vec<_>>>()?;
    for (i, m) in methods.iter().enumerate() {
        if let Some(j) = methods[..i].iter().position(|e| e == m) {
            if names[i] == names[j] {
                bail!("--methods lists `{}` twice: each method runs once per seed and filter ratio", names[i]);
            }
            bail!("--methods lists `{}` and `{}`, two names of one method ({}): keep one", names[j], names[i], m.name());
        }
    }
    if let Some(f) = filter_ratios.iter().enumerate().find_map(|(i, f)| filter_ratios[..i].contains(f).then_some(f)) {
        bail!("--filter-ratios lists {f} twice");
    }
    if a.seeds == 0 {
        bail!("--seeds 0 runs nothing: give at least 1 (--seed S --seeds K runs seeds S … S+K−1)");
    }
    let eval_every = a.eval_every.unwrap_or((steps / 20).max(1));
    if steps < 2 {
        bail!("--steps {steps}: compare needs at least 2 steps (it reads steps to target from each run's evaluations)");
    }
    // a run evaluates every k steps and at its last step: at least 2 evaluations when k < steps
    if eval_every == 0 || eval_every >= steps {
        bail!(
            "--eval-every {eval_every} with --steps {steps} gives {} evaluation(s): compare reads steps to target from each run's evaluation curve, so it needs at least 2; give --eval-every between 1 and {} (default: steps / 20)",
            if eval_every == 0 { 0 } else { 1 },
            steps - 1
        );
    }
    if a.seeds > 0 && a.seed.checked_add(a.seeds as u64 - 1).is_none() {
        bail!("--seed {} --seeds {} runs past the largest seed ({}): choose a smaller first seed", a.seed, a.seeds, u64::MAX);
    }
    Ok(CompareOptions {
        preset: a.preset.clone(),
        steps,
        reference_steps: a.reference_steps.unwrap_or(steps.max(DEFAULT_REFERENCE_STEPS)),
        seeds: (0..a.seeds as u64).map(|k| a.seed + k).collect(),
        filter_ratios,
        methods,
        chunks: a.sel.chunks,
        score_gain: a.sel.score_gain,
        flexi_size: a.sel.flexi_size,
        flexi_low_share: a.sel.flexi_low_share,
        eval_every,
        eval_split: a.eval_split,
        batch: a.batch,
        lr: a.lr,
        out: a.out.clone().unwrap_or_else(|| PathBuf::from(format!("reports/compare-{}", a.preset))),
        fresh: a.fresh,
        progress: true,
    })
}

pub fn run(a: CompareArgs) -> Result<()> {
    let o = options(&a)?;
    let (chosen, why) = backend_choice::open(a.backend)?;
    eprintln!("backend: {why}");
    let r = with_backend!(chosen, |be| run_compare(&be, &o))?;
    if a.json {
        println!(
            "{}",
            json!({
                "command": "compare", "report": o.out, "preset": r.preset, "seed": r.seed, "seeds": r.seeds,
                "backend": r.backend, "adapter": r.adapter, "filter_ratio": r.filter_ratio, "filter_ratios": r.filter_ratios,
                "methods": o.methods.iter().map(|m| m.name()).collect::<Vec<_>>(), "chunks": r.chunks, "score_gain": r.score_gain,
                "flexi_size": r.flexi_size, "flexi_low_share": r.flexi_low_share, "steps": r.steps, "batch": r.batch,
                "eval_every": r.eval_every, "eval_split": r.eval_split, "reference_steps": r.reference_steps,
                "summary": r.summary, "wall_seconds": r.wall_seconds,
            })
        );
    }
    Ok(())
}

#[derive(Parser)]
struct Defaults {
    #[command(flatten)]
    a: CompareArgs,
}

/// `cargo run --release` with no arguments: the default `compare`.
pub fn default_job() -> Result<()> {
    eprintln!("jest-wgpu: no command given — running the default `compare` (see --help for all commands)");
    run(Defaults::parse_from(["jest-wgpu"]).a)
}
