//! The whole JEST step on the GPU against the CPU backend: the same selections and losses.
mod common;
use common::{bin, train_reference};

/// The whole JEST step — learner scoring, score matrix, joint sampler, device gather, training —
/// gives the same run on the GPU as on the CPU (same selections, same losses).
#[test]
fn gpu_jest_learner_matches_the_cpu_run() {
    if common::gpu("gpu_jest_learner_matches_the_cpu_run").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("ref.safetensors");
    train_reference(&r, "tiny", "30", &[]);
    // flexi-jest at its default (16 px: 2×2 average pooling) and at 24 px (area weights 3:1)
    for (method, flexi) in [("jest", "16"), ("flexi-jest", "16"), ("flexi-jest", "24")] {
        let run = |be: &str| {
            let o = bin()
                .args([
                    "train",
                    "--flexi-size",
                    flexi,
                    "--method",
                    method,
                    "--preset",
                    "tiny",
                    "--steps",
                    "6",
                    "--backend",
                    be,
                    "--json",
                    "--reference",
                    r.to_str().unwrap(),
                ])
                .args([
                    "--out",
                    dir.path()
                        .join(format!("l-{be}.safetensors"))
                        .to_str()
                        .unwrap(),
                ])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            serde_json::from_str::<serde_json::Value>(
                String::from_utf8_lossy(&o.stdout).lines().last().unwrap(),
            )
            .unwrap()
        };
        let (c, g) = (run("cpu"), run("gpu"));
        assert_eq!(g["backend"], "gpu");
        assert_eq!(
            c["selected_noise_share"], g["selected_noise_share"],
            "the samplers chose differently"
        );
        let (lc, lg) = (
            c["losses"].as_array().unwrap(),
            g["losses"].as_array().unwrap(),
        );
        assert_eq!(lc.len(), lg.len(), "{method}: the CPU and GPU runs logged different step counts");
        for (i, (a, b)) in lc.iter().zip(lg).enumerate() {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(
                (a - b).abs() <= 1e-3 * a.abs(),
                "step {}: cpu {a} vs gpu {b}",
                i + 1
            );
        }
        println!("{method} ({flexi} px): cpu losses {lc:?}\ngpu losses {lg:?}");
    }
}
