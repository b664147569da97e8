//! `jest-wgpu bench`: matmul GFLOP/s (512³ f32) and ms per training step, GPU and CPU side by
//! side in one process, so the figures are ratios against a baseline measured alongside; and the
//! same step on wgpu's noop backend, which executes nothing: wgpu's own CPU cost of the step and
//! its number of dispatches, the floor under the GPU column.

use std::rc::Rc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{json, Map, Value};

use crate::backend::Backend;
use crate::batch::{step_indices, Encoded};
use crate::config::Preset;
use crate::cpu::CpuBackend;
use crate::data::{load_builtin, SplitName, Tokenizer};
use crate::gpu::profile::KernelTime;
use crate::jest::cache::RefCache;
use crate::jest::step::Stepper;
use crate::jest::{Method, SelectConfig, DEFAULT_CHUNKS, DEFAULT_SCORE_GAIN};
use crate::gpu::{GpuBackend, GpuContext};
use crate::model::DualEncoder;
use crate::train::{new_model, RunSpec};

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// presets to time a training step for (comma-separated)
    #[arg(long, default_value = "tiny,default")]
    pub presets: String,
    /// timed training steps per preset and backend (after 2 warm-up steps)
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// matmul size (n×n×n)
    #[arg(long, default_value_t = 512)]
    pub size: usize,
    #[arg(long)]
    pub json: bool,
    /// also time every kernel of a GPU training step, and of a JEST step (f = 0.8: score,
    /// sample, train), with timestamp queries: per kernel, its calls and µs a step and its share
    /// of the GPU's busy time (each submit then waits for the GPU)
    #[arg(long)]
    pub profile: bool,
}

/// GFLOP/s of `reps` n³ matmuls on `be` (after one warm-up), read-back included once.
pub fn matmul_gflops<B: Backend>(be: &B, n: usize, reps: usize) -> Result<f64> {
    let a = be.upload(&(0..n * n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0).collect::<Vec<_>>());
    let b = be.upload(&(0..n * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 5.0).collect::<Vec<_>>());
    let c = be.zeros(n * n);
    be.matmul(&c, &a, &b, None, n, n, n, false, false, false);
    be.sync()?;
    let t = Instant::now();
    for _ in 0..reps {
        be.matmul(&c, &a, &b, None, n, n, n, false, false, false);
    }
    be.sync()?;
    let s = t.elapsed().as_secs_f64();
    Ok(2.0 * (n as f64).powi(3) * reps as f64 / s / 1e9)
}

/// A model of `preset` for `steps` bench steps, and its AdamW settings.
fn bench_model<B: Backend>(be: &B, preset: &Preset, steps: usize) -> Result<(DualEncoder<B>, crate::backend::AdamHp)> {
    let spec = RunSpec { preset: preset.clone(), steps, seed: 0, method: "uniform".into(), data: "bench".into() };
    let hp = crate::backend::AdamHp {
        base_lr: 1e-3, min_lr: 1e-5, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 1e-4, clip: 1.0,
        step: 1, warmup: 1, total: steps as u32, _pad: [0; 2],
    };
    Ok((new_model(be, &spec)?, hp))
}

/// Training step `s` (0-based) of a bench run: upload, forward, backward, AdamW.
fn bench_step<B: Backend>(be: &B, model: &mut DualEncoder<B>, hp: &crate::backend::AdamHp, data: &Encoded, b: usize, s: usize) {
    model.upload(be, &data.batch(&step_indices(data.len(), b, 0, s as u64)));
    model.forward(be, b);
    model.backward(be, b);
    model.optimizer_step(be, &crate::backend::AdamHp { step: s as u32 + 1, ..*hp });
}

/// Mean ms of `steps` training steps of `preset` on `be` (2 warm-up steps first).
pub fn step_ms<B: Backend>(be: &B, preset: &Preset, data: &Encoded, steps: usize) -> Result<f64> {
    let (mut model, hp) = bench_model(be, preset, steps + 2)?;
    let mut t = Instant::now();
    for s in 0..steps + 2 {
        if s == 2 {
            be.sync()?;
            t = Instant::now();
        }
        bench_step(be, &mut model, &hp, data, preset.train.batch, s);
    }
    be.read(&model.ws(preset.train.batch).stats)?;
    Ok(t.elapsed().as_secs_f64() * 1e3 / steps as f64)
}

/// Every kernel's GPU time over `steps` calls of `step(s)` (s counts from 0), after 2 warm-up
/// calls that are not profiled.
fn profiled(g: &GpuBackend, steps: usize, mut step: impl FnMut(usize)) -> Result<Vec<KernelTime>> {
    for s in 0..steps + 2 {
        if s == 2 {
            g.sync()?;
            g.ctx.start_profiling()?;
        }
        step(s);
    }
    g.ctx.stop_profiling()
}

/// Every kernel's GPU time over `steps` training steps of `preset` (after 2 warm-up steps).
pub fn kernel_profile(g: &GpuBackend, preset: &Preset, data: &Encoded, steps: usize) -> Result<Vec<KernelTime>> {
    let (mut model, hp) = bench_model(g, preset, steps + 2)?;
    profiled(g, steps, |s| bench_step(g, &mut model, &hp, data, preset.train.batch, s))
}

/// Every kernel's GPU time over `steps` JEST steps of `preset` (f = 0.8, the default chunks and
/// gain: score the super-batch, sample, train on the chosen rows), after 2 warm-up steps. The
/// reference embeddings are made up: the work, and so the timing, does not depend on them.
pub fn jest_kernel_profile(g: &GpuBackend, preset: &Preset, data: &Encoded, steps: usize) -> Result<Vec<KernelTime>> {
    let (mut model, hp) = bench_model(g, preset, steps + 2)?;
    let (d, n) = (preset.model.embed_dim, data.len());
    let made_up = |k: usize| (0..n * d).map(|i| ((i * 2_654_435_761 + k) % 1000) as f32 / 5000.0 - 0.1).collect::<Vec<_>>();
    let batch = preset.train.batch as f32;
    let cache = Rc::new(RefCache { u: made_up(1), v: made_up(2), d, t_bias: [10f32.ln(), -batch.ln()], n });
    let select = SelectConfig::new(0.8, DEFAULT_CHUNKS, DEFAULT_SCORE_GAIN);
    let st = Stepper::new(g, &mut model, preset, Method::parse("jest")?, &select, n, Some(cache), 0)?;
    profiled(g, steps, |s| {
        let sup = step_indices(n, st.bsz, 0, s as u64);
        st.score(g, &mut model, data, &sup);
        st.choose(g, &mut model, data, &sup, s);
        st.train(g, &mut model, &crate::backend::AdamHp { step: s as u32 + 1, ..hp });
    })
}

/// The profile of one kind of step as JSON: busy ms and each kernel's calls and µs a step.
fn profile_json(times: &[KernelTime], steps: usize) -> Value {
    let per_step: Vec<Value> = times
        .iter()
        .map(|t| json!({ "kernel": t.kernel, "calls_per_step": t.calls as f64 / steps as f64, "us_per_step": t.ns / 1e3 / steps as f64 }))
        .collect();
    let busy_ms = times.iter().map(|t| t.ns).sum::<f64>() / 1e6 / steps as f64;
    json!({ "busy_ms_per_step": busy_ms, "kernels": per_step })
}

/// The largest matmul side `bench --size` takes: three n×n f32 matrices of 4096 are 192 MiB.
const MAX_SIZE: usize = 4096;

pub fn run(a: BenchArgs) -> Result<()> {
    if a.size == 0 || a.size > MAX_SIZE {
        anyhow::bail!("--size {} must lie in 1..={MAX_SIZE} (the matmul is n×n×n; three n×n f32 matrices of {MAX_SIZE} take 192 MiB)", a.size);
    }
    if a.steps == 0 {
        anyhow::bail!("--steps must be at least 1 (timed steps per preset and backend)");
    }
    // every preset named before anything is timed
    let names: Vec<&str> = a.presets.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    for name in &names {
        Preset::named(name, 1).context("--presets")?;
    }
    let cpu = CpuBackend::new();
    let gpu = match GpuBackend::open() {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("no GPU adapter ({e:#}); the GPU columns are empty");
            None
        }
    };
    let adapter = gpu.as_ref().map(|g| g.adapter_name()).unwrap_or_else(|| "none".into());
    eprintln!("bench: GPU adapter {adapter}; CPU {} threads", rayon::current_num_threads());
    let n = a.size;
    let mm_gpu = gpu.as_ref().map(|g| matmul_gflops(g, n, 5)).transpose()?;
    let mm_cpu = matmul_gflops(&cpu, n, 10)?;
    let mm_cpu1 = rayon::ThreadPoolBuilder::new().num_threads(1).build()?.install(|| matmul_gflops(&cpu, n, 5))?;
    let fmt = |v: Option<f64>| v.map(|x| format!("{x:>9.2}")).unwrap_or_else(|| format!("{:>9}", "—"));
    println!("{:<28} {:>9} {:>9} {:>9}", "measure", "gpu", "cpu", "cpu 1-thr");
    println!("{:<28} {} {} {}", format!("matmul {n}³ GFLOP/s"), fmt(mm_gpu), fmt(Some(mm_cpu)), fmt(Some(mm_cpu1)));

    // data: loading every builtin split, and assembling a super-batch of 1,280 (f = 0.95, b = 64)
    let t = Instant::now();
    let tok = Tokenizer::builtin()?;
    let splits = [load_builtin(SplitName::Curated)?, load_builtin(SplitName::Pool)?, load_builtin(SplitName::Test)?];
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let pool = Encoded::new(&splits[1], &tok, 16);
    let t = Instant::now();
    let reps = 20;
    for s in 0..reps {
        std::hint::black_box(pool.batch(&step_indices(pool.len(), 1280, 0, s)));
    }
    let superbatch_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
    println!("{:<28} {:>9.1} ms", "load builtin data (3 splits)", load_ms);
    println!("{:<28} {:>9.2} ms", "super-batch of 1280 items", superbatch_ms);
    let data = &splits[0];
    // wgpu's noop backend: the same dispatches, nothing executed — wgpu's CPU cost of a step
    let noop = match GpuContext::noop_blocking() {
        Ok(c) => Some(GpuBackend::new(c)),
        Err(e) => {
            eprintln!("{e:#}; the noop column is empty");
            None
        }
    };
    let mut steps_json = Map::new();
    let mut profile_json_map = Map::new();
    for name in names {
        let preset = Preset::named(name, tok.vocab_size())?;
        let enc = Encoded::new(data, &tok, preset.model.text_len);
        let g = gpu.as_ref().map(|g| step_ms(g, &preset, &enc, a.steps)).transpose()?;
        let c = step_ms(&cpu, &preset, &enc, a.steps)?;
        let (n, dispatches) = match &noop {
            Some(be) => {
                // one step's dispatches: a run with one step more, less the model's set-up
                let count = |steps: usize| -> Result<(f64, u64)> {
                    let d0 = be.ctx.dispatch_count();
                    let ms = step_ms(be, &preset, &enc, steps)?;
                    Ok((ms, be.ctx.dispatch_count() - d0))
                };
                let ((ms, d), (_, d_more)) = (count(a.steps)?, count(a.steps + 1)?);
                (Some(ms), Some(d_more - d))
            }
            None => (None, None),
        };
        println!("{:<28} {} {} {:>9}", format!("{name} step ms (b={})", preset.train.batch), fmt(g), fmt(Some(c)), "");
        println!("{:<28} {} {:>9}", format!("{name} step ms, wgpu noop"), fmt(n), dispatches.map(|d| format!("{d} disp.")).unwrap_or_default());
        steps_json.insert(
            name.to_string(),
            json!({ "gpu": g, "cpu": c, "noop": n, "dispatches": dispatches, "batch": preset.train.batch }),
        );
        if let (true, Some(g)) = (a.profile, &gpu) {
            let profiles = kernel_profile(g, &preset, &enc, a.steps)
                .and_then(|train| Ok((train, jest_kernel_profile(g, &preset, &enc, a.steps)?)));
            match profiles {
                Ok((train, jest)) => {
                    print_profile(&format!("{name} training step"), &train, a.steps);
                    print_profile(&format!("{name} JEST step (f = 0.8)"), &jest, a.steps);
                    let mut p = profile_json(&train, a.steps);
                    p["jest_step"] = profile_json(&jest, a.steps);
                    profile_json_map.insert(name.to_string(), p);
                }
                Err(e) => eprintln!("--profile: {e:#}; no kernel profile"),
            }
        }
    }
    if a.profile && gpu.is_none() {
        eprintln!("--profile: no GPU adapter, so no kernel profile");
    }
    if a.json {
        println!(
            "{}",
            json!({
                "adapter": adapter,
                "cpu_threads": rayon::current_num_threads(),
                "matmul_size": n,
                "matmul_gflops": { "gpu": mm_gpu, "cpu": mm_cpu, "cpu_1thread": mm_cpu1 },
                "step_ms": Value::Object(steps_json),
                "profile": Value::Object(profile_json_map),
                "data_load_ms": load_ms,
                "superbatch_1280_ms": superbatch_ms,
            })
        );
    }
    Ok(())
}

/// The per-kernel table of one kind of step: calls and µs a step, share of the GPU's busy time.
fn print_profile(what: &str, times: &[KernelTime], steps: usize) {
    let busy: f64 = times.iter().map(|t| t.ns).sum();
    let calls: u64 = times.iter().map(|t| t.calls).sum();
    println!(
        "{what}: GPU busy {:.2} ms a step over {} dispatches ({steps} steps, timestamp queries)",
        busy / 1e6 / steps as f64,
        calls as f64 / steps as f64
    );
    println!("  {:<24} {:>10} {:>10} {:>7}", "kernel", "calls/step", "µs/step", "share");
    for t in times {
        println!(
            "  {:<24} {:>10.1} {:>10.1} {:>6.1}%",
            t.kernel,
            t.calls as f64 / steps as f64,
            t.ns / 1e3 / steps as f64,
            100.0 * t.ns / busy.max(1e-9)
        );
    }
}
