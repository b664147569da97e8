//! `compare`'s summary: steps/FLOPs to uniform's final R@1, read strictly (against uniform's own
//! first evaluation there) and against uniform's whole run, on curves with known crossings.
use jest_wgpu::jest::compare::summarise;
use jest_wgpu::report::{CurveRow, MethodResult};

/// A run evaluated every 10 steps to step 100, `cost` FLOPs a step, smoothed R@1 `r1(step)`.
fn run(method: &str, seed: u64, cost: f64, r1: impl Fn(usize) -> f64) -> MethodResult {
    let curve: Vec<CurveRow> = (1..=10)
        .map(|i| {
            let step = 10 * i;
            CurveRow { step, examples: 64 * step, flops: cost * step as f64, r1_smoothed: r1(step), ..Default::default() }
        })
        .collect();
    MethodResult { method: method.into(), seed, filter_ratio: 0.8, final_: curve.last().unwrap().clone(), curve, ..Default::default() }
}

#[test]
fn speedups_are_read_strictly_and_against_uniforms_whole_run() {
    // uniform touches its final 0.02 at step 50 (a noisy plateau), ends at 0.02 at step 100;
    // the method, at 7/3 of its cost a step, first reaches 0.02 at step 20 (seed 0) or 25→30 (seed 1)
    let uniform = |s| run("uniform", s, 3.0, |step| if step >= 50 { 0.02 } else { 0.004 * step as f64 / 10.0 });
    let fast = |s, at: usize| run("jest", s, 7.0, move |step| if step >= at { 0.03 } else { 0.01 });
    let rows = summarise(&[uniform(0), uniform(1), fast(0, 20), fast(1, 30)]);
    let jest = rows.iter().find(|r| r.method == "jest").unwrap();
    let close = |got: Option<f64>, want: f64, what: &str| {
        let got = got.unwrap_or_else(|| panic!("{what}: not reached"));
        println!("{what}: {got:.6} (want {want:.6})");
        assert!((got - want).abs() < 1e-12, "{what}: {got} vs {want}");
    };
    // strict: uniform's step 50 over 20 and 30; FLOPs 150 over 140 and 210
    close(jest.steps_speedup, (50.0 / 20.0 + 50.0 / 30.0) / 2.0, "strict steps");
    close(jest.flops_speedup, (150.0 / 140.0 + 150.0 / 210.0) / 2.0, "strict FLOPs");
    // whole run: uniform's step 100 and 300 FLOPs in the numerator
    close(jest.steps_speedup_whole_run, (100.0 / 20.0 + 100.0 / 30.0) / 2.0, "whole-run steps");
    close(jest.flops_speedup_whole_run, (300.0 / 140.0 + 300.0 / 210.0) / 2.0, "whole-run FLOPs");
    // uniform against itself: strict 1, whole run its last step over its first touch of the target
    let u = rows.iter().find(|r| r.method == "uniform").unwrap();
    close(u.flops_speedup, 1.0, "uniform strict");
    close(u.steps_speedup_whole_run, 2.0, "uniform whole run");
    // a method that never reaches the target is "never" in both readings
    let slow = run("hard-learner", 0, 3.0, |_| 0.001);
    let rows = summarise(&[uniform(0), slow]);
    let h = rows.iter().find(|r| r.method == "hard-learner").unwrap();
    assert!(h.steps_speedup.is_none() && h.flops_speedup.is_none() && h.steps_speedup_whole_run.is_none() && h.flops_speedup_whole_run.is_none(), "{h:?}");
}
