//! The GPU context's recording: parameter blocks shared in one uniform arena across many
//! dispatches and submits, and wgpu's noop backend that `bench` times a step on.
mod common;

use jest_wgpu::backend::Backend;
use jest_wgpu::gpu::profile::KernelTime;
use jest_wgpu::gpu::{GpuBackend, GpuContext};

/// 700 dispatches (more than the 256 the context records before it submits, so the arena is
/// refilled twice), each filling its own buffer with its own value, mixed with copies, and read
/// back only at the end: every buffer must hold its own dispatch's value.
#[test]
fn every_dispatch_reads_its_own_parameters_across_submits() {
    let Some(g) = common::gpu("every_dispatch_reads_its_own_parameters_across_submits") else { return };
    let n = 700;
    // lengths 1..=37: the fill's `n` parameter differs per dispatch too
    let bufs: Vec<_> = (0..n).map(|i| g.zeros(1 + i % 37)).collect();
    let copies: Vec<_> = (0..n).map(|i| g.zeros(1 + i % 37)).collect();
    for i in 0..n {
        g.fill(&bufs[i], i as f32 + 0.5);
        if i % 3 == 0 {
            g.copy(&copies[i], 0, &bufs[i], 0, 1 + i % 37);
        }
    }
    let mut wrong = 0;
    for i in 0..n {
        let got = g.read(&bufs[i]).unwrap();
        let want = vec![i as f32 + 0.5; 1 + i % 37];
        if got != want {
            wrong += 1;
            eprintln!("buffer {i}: {:?}, want {}", &got[..got.len().min(4)], want[0]);
        }
        if i % 3 == 0 {
            assert_eq!(g.read(&copies[i]).unwrap(), want, "copy of buffer {i}");
        }
    }
    assert_eq!(wrong, 0, "{wrong} of {n} buffers hold another dispatch's value");
    println!("{n} fills across {} submits: all hold their own value", n.div_ceil(256));
}

/// Dispatches recorded by `bench`'s step runner on the noop backend for 3, 4 and 5 `tiny` steps
/// (each run builds its model, then runs 2 warm-up steps and the timed ones).
fn tiny_dispatch_counts() -> [u64; 3] {
    use jest_wgpu::batch::Encoded;
    use jest_wgpu::config::Preset;
    use jest_wgpu::data::{load_builtin, SplitName, Tokenizer};
    let be = GpuBackend::new(GpuContext::noop_blocking().expect("wgpu's noop backend"));
    assert_eq!(be.ctx.adapter.backend, "Noop");
    let tok = Tokenizer::builtin().unwrap();
    let preset = Preset::named("tiny", tok.vocab_size()).unwrap();
    let curated = load_builtin(SplitName::Curated).unwrap();
    let enc = Encoded::new(&curated, &tok, preset.model.text_len);
    let count = |steps: usize| {
        let d0 = be.ctx.dispatch_count();
        jest_wgpu::cli::bench::step_ms(&be, &preset, &enc, steps).unwrap();
        be.ctx.dispatch_count() - d0
    };
    [count(1), count(2), count(3)]
}

/// The noop backend takes every call of a training step (no adapter needed) and counts its
/// dispatches: the same number for every step of the same shape.
#[test]
fn the_noop_backend_records_a_training_step() {
    let [three, four, five] = tiny_dispatch_counts();
    let per_step = four - three;
    println!("tiny: {three} / {four} / {five} dispatches for 3 / 4 / 5 steps: {per_step} a step");
    assert!(per_step > 50, "a tiny training step is over 50 dispatches, got {per_step}");
    assert_eq!(five - four, per_step, "each step of the same shape records the same dispatches");
    assert!(three >= 3 * per_step);
}

/// `jest-wgpu bench --json` reports the noop column beside the GPU and CPU ones, and exactly one
/// step's dispatches.
#[test]
fn bench_reports_the_noop_floor_and_dispatches() {
    let out = common::bin()
        .args(["bench", "--presets", "tiny", "--steps", "1", "--size", "64", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).expect("last line is JSON");
    let tiny = &json["step_ms"]["tiny"];
    println!("{tiny}");
    assert!(tiny["cpu"].as_f64().unwrap() > 0.0);
    assert!(tiny["noop"].as_f64().unwrap() > 0.0, "{tiny}");
    let [three, four, _] = tiny_dispatch_counts();
    assert_eq!(tiny["dispatches"].as_u64(), Some(four - three), "{tiny}");
    assert!(stdout.contains("wgpu noop"), "{stdout}");
}

/// Two `tiny` steps profiled by `profile` (bench's training or JEST step) on `g`; where the
/// adapter has no timestamp queries, a failure saying so (None only under JEST_SKIP_GPU=1).
fn profile_two_tiny_steps(
    g: &GpuBackend,
    profile: fn(&GpuBackend, &jest_wgpu::config::Preset, &jest_wgpu::batch::Encoded, usize) -> anyhow::Result<Vec<KernelTime>>,
) -> Option<Vec<KernelTime>> {
    use jest_wgpu::batch::Encoded;
    use jest_wgpu::config::Preset;
    use jest_wgpu::data::{load_builtin, SplitName, Tokenizer};
    let tok = Tokenizer::builtin().unwrap();
    let preset = Preset::named("tiny", tok.vocab_size()).unwrap();
    let curated = load_builtin(SplitName::Curated).unwrap();
    let enc = Encoded::new(&curated, &tok, preset.model.text_len);
    match profile(g, &preset, &enc, 2) {
        Ok(t) => Some(t),
        Err(e) if format!("{e:#}").contains("no timestamp queries") => common::skip_or_fail("bench --profile (a profile test)", "no timestamp queries", &e),
        Err(e) => panic!("{e:#}"),
    }
}

/// `bench --profile`'s kernel times: over 2 `tiny` steps every dispatch is timed once — the
/// calls add up to the step's dispatch count on the noop backend, twice — each kernel has the
/// calls per step the model makes (the 2 AdamW groups of the flat parameters; split weight
/// gradients summed by `split_reduce`), and the GPU was busy for some time.
#[test]
fn kernel_profile_times_every_dispatch_of_a_step() {
    let Some(g) = common::gpu("kernel_profile_times_every_dispatch_of_a_step") else { return };
    g.ctx.set_split_sums(true); // as the noop backend records, and every hardware GPU runs
    let Some(times) = profile_two_tiny_steps(&g, jest_wgpu::cli::bench::kernel_profile) else { return };
    let calls = |k: &str| times.iter().find(|t| t.kernel == k).map(|t| t.calls).unwrap_or(0);
    let [three, four, _] = tiny_dispatch_counts();
    assert_eq!(times.iter().map(|t| t.calls).sum::<u64>(), 2 * (four - three), "{times:?}");
    assert_eq!((calls("adamw"), calls("sumsq_partial"), calls("sum_into")), (4, 2, 2), "{times:?}");
    assert!(calls("matmul_nn") > 0 && calls("attention_fwd") > 0 && calls("split_reduce") > 0, "{times:?}");
    let busy: f64 = times.iter().map(|t| t.ns).sum();
    println!("busy {:.1} ms over 2 steps; longest {:?}", busy / 1e6, times[0]);
    assert!(busy > 0.0, "no GPU time recorded: {times:?}");
    assert!(times.windows(2).all(|w| w[0].ns >= w[1].ns), "longest first");
}

/// `bench --profile`'s JEST step: per step one score matrix and one joint-sampler dispatch, the
/// chosen rows gathered, the gradients and AdamW as in a training step — all timed.
#[test]
fn jest_step_profile_times_scoring_sampling_and_training() {
    let Some(g) = common::gpu("jest_step_profile_times_scoring_sampling_and_training") else { return };
    let Some(times) = profile_two_tiny_steps(&g, jest_wgpu::cli::bench::jest_kernel_profile) else { return };
    let calls = |k: &str| times.iter().find(|t| t.kernel == k).map(|t| t.calls).unwrap_or(0);
    assert_eq!((calls("score_matrix"), calls("joint_sample"), calls("adamw")), (2, 2, 4), "{times:?}");
    assert!(calls("gather_rows") >= 2 && calls("matmul_tn") > 0, "{times:?}");
    let sampler = times.iter().find(|t| t.kernel == "joint_sample").unwrap().ns;
    let busy: f64 = times.iter().map(|t| t.ns).sum();
    println!("sampler {:.2} ms of {:.2} ms GPU busy a step", sampler / 2e6, busy / 2e6);
    assert!(sampler > 0.0 && sampler < busy);
}
