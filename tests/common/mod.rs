//! Shared test helpers: the GPU backend (or a failure naming what is missing), deterministic random data,
//! closeness checks that print the max diff, and f64 central finite differences.
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard};

use jest_wgpu::gpu::GpuBackend;

/// One GPU test at a time in a test binary. With a device per test on libtest's threads at once,
/// `kernels_norm_tokens --test-threads 8` hung in 7 of 18 runs on an NVIDIA H200 (Vulkan, driver
/// 580): tests whose last check had passed never returned, so the devices' teardown is the likely
/// place. With this lock: 0 of 26 (docs/results/bench-h200/run6-log.txt). The product opens one
/// device per process.
static GPU_TURN: Mutex<()> = Mutex::new(());

/// A test's GPU backend; holds this binary's GPU turn until the backend has been dropped
/// (fields drop in order: the device first, then the turn).
pub struct Gpu {
    pub be: GpuBackend,
    _turn: MutexGuard<'static, ()>,
}

impl std::ops::Deref for Gpu {
    type Target = GpuBackend;
    fn deref(&self) -> &GpuBackend {
        &self.be
    }
}

/// The GPU backend on whatever adapter exists (lavapipe included), once the other GPU tests
/// of this binary are done with theirs. Without one the test fails, naming what is missing —
/// unless JEST_SKIP_GPU=1 asks to skip GPU tests explicitly: then it prints "skipped: no
/// adapter" and returns None (JEST_REQUIRE_GPU=1, as CI sets, overrides the skip).
pub fn gpu(test: &str) -> Option<Gpu> {
    // a failed GPU test poisons the lock; the next one may still run
    let turn = GPU_TURN.lock().unwrap_or_else(|e| e.into_inner());
    match GpuBackend::open() {
        Ok(be) => Some(Gpu { be, _turn: turn }),
        Err(e) => skip_or_fail(test, "no adapter", &e),
    }
}

/// A GPU test that cannot run here (`why`: no adapter, or a feature the adapter lacks) fails,
/// naming the cause, unless JEST_SKIP_GPU=1 (and not JEST_REQUIRE_GPU=1): then None.
pub fn skip_or_fail<T>(test: &str, why: &str, e: &anyhow::Error) -> Option<T> {
    let set = |k: &str| std::env::var(k).map(|v| v == "1").unwrap_or(false);
    if set("JEST_SKIP_GPU") && !set("JEST_REQUIRE_GPU") {
        eprintln!("{test}: skipped: {why} ({e:#})");
        return None;
    }
    panic!("{test}: {e:#} — or set JEST_SKIP_GPU=1 to skip the GPU tests explicitly");
}

/// The larger of two diffs, NaN if either is (`f32::max` drops a NaN, which would hide one).
#[allow(clippy::eq_op)]
pub fn nan_max<T: PartialOrd + Copy>(a: T, b: T) -> T {
    if b > a || b != b { b } else { a }
}

/// splitmix64-based deterministic values in [-scale, scale).
pub fn rand_vec(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

pub fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Assert |got − want| ≤ atol + rtol·|want| everywhere; print the max diff either way.
pub fn assert_close(name: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(
        got.len(),
        want.len(),
        "{name}: length {} vs {}",
        got.len(),
        want.len()
    );
    let mut max_diff = 0f32;
    let mut worst = None;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        let within = d <= atol + rtol * w.abs(); // false for NaN
        if !within && worst.is_none() {
            worst = Some((i, g, w));
        }
        if d > max_diff || d.is_nan() {
            max_diff = d;
        }
    }
    println!(
        "{name}: n={} max diff {max_diff:.3e} (atol {atol:.1e}, rtol {rtol:.1e})",
        got.len()
    );
    if let Some((i, g, w)) = worst {
        panic!("{name}: mismatch at index {i}: got {g}, want {w} (max diff {max_diff:.3e})");
    }
}

/// Assert got and want are the same values bit for bit (−0 ≠ +0, NaNs by payload); print how
/// many differ either way.
pub fn assert_same_bits(name: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{name}: length {} vs {}", got.len(), want.len());
    let differ = got.iter().zip(want).filter(|(g, w)| g.to_bits() != w.to_bits()).count();
    println!("{name}: {differ} of {} values differ in bits", got.len());
    assert_eq!(differ, 0, "{name}: not equal bit for bit");
}

/// Compare an analytic gradient with central differences of `loss` (f64, eps 1e-6).
pub fn check_grad(name: &str, x: &[f64], analytic: &[f64], loss: impl Fn(&[f64]) -> f64) {
    assert_eq!(x.len(), analytic.len());
    let eps = 1e-6;
    let mut xs = x.to_vec();
    let mut max_rel = 0f64;
    for i in 0..x.len() {
        let orig = xs[i];
        xs[i] = orig + eps;
        let lp = loss(&xs);
        xs[i] = orig - eps;
        let lm = loss(&xs);
        xs[i] = orig;
        let num = (lp - lm) / (2.0 * eps);
        let err = (num - analytic[i]).abs() / (1e-6 + num.abs().max(analytic[i].abs()));
        if err > max_rel {
            max_rel = err;
        }
        assert!(
            (num - analytic[i]).abs() <= 1e-6 + 1e-4 * num.abs().max(analytic[i].abs()),
            "{name}: gradient mismatch at {i}: numeric {num:.9}, analytic {:.9}",
            analytic[i]
        );
    }
    println!(
        "{name}: gradient check over {} inputs, max rel err {max_rel:.3e}",
        x.len()
    );
}

/// The jest-wgpu binary of this build.
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_jest-wgpu"))
}

/// Train a reference on the CPU into `out`, asserting success.
pub fn train_reference(out: &std::path::Path, preset: &str, steps: &str, extra: &[&str]) {
    let t = bin()
        .args([
            "train-reference",
            "--preset",
            preset,
            "--steps",
            steps,
            "--backend",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
}
