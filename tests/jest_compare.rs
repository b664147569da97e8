//! JEST end to end: a `tiny` compare writes a well-formed report, selection behaves as the
//! method says (JEST and easy-ref pick cleaner data than the pool, hard-learner does not), and
//! impossible selection settings are clear errors before training.

mod common;
use common::{bin, train_reference};

#[test]
fn tiny_compare_writes_a_well_formed_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let base = ["compare", "--preset", "tiny", "--steps", "120", "--reference-steps", "120", "--backend", "cpu", "--json"];
    let args = [&base[..], &["--eval-every", "40", "--methods", "all", "--out", out.to_str().unwrap()]].concat();
    let o = bin().args(&args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(v["command"], "compare");
    // the settings a script reads back from --json: what ran, not only the first of each
    assert_eq!(v["methods"].as_array().unwrap().len(), 6, "{v}");
    assert_eq!(v["filter_ratios"], serde_json::json!([0.8]));
    assert_eq!((v["steps"].as_u64(), v["eval_every"].as_u64(), v["reference_steps"].as_u64()), (Some(120), Some(40), Some(120)));
    assert_eq!((v["score_gain"].as_f64(), v["chunks"].as_u64()), (Some(100.0), Some(16)));
    for f in [
        "results.json",
        "index.html",
        "reference.safetensors",
        "reference.pool-emb.safetensors",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let svgs = std::fs::read_dir(out.join("plots")).unwrap().count();
    assert!(svgs >= 4, "expected the plots, found {svgs} files");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    for key in [
        "preset",
        "seed",
        "backend",
        "adapter",
        "filter_ratio",
        "chunks",
        "methods",
        "summary",
    ] {
        assert!(r.get(key).is_some(), "results.json lacks `{key}`");
    }
    let share = |m: &str| {
        r["methods"][m]["selected_noise_share"]["clean"]
            .as_f64()
            .unwrap()
    };
    let pool_clean = r["pool_noise_share"]["clean"].as_f64().unwrap();
    for m in [
        "uniform",
        "hard-learner",
        "easy-ref",
        "independent-learnability",
        "jest",
    ] {
        let run = &r["methods"][m];
        let curve = run["curve"]
            .as_array()
            .unwrap_or_else(|| panic!("no curve for {m}"));
        assert_eq!(curve.len(), 3, "{m}: one point per 40 steps");
        for key in [
            "step",
            "examples",
            "flops",
            "zero_shot_acc",
            "i2t_r1",
            "t2i_r1",
            "loss",
        ] {
            assert!(curve[0].get(key).is_some(), "{m}: curve lacks {key}");
        }
        assert!(run["final"]["i2t_r1"].is_number() && run["ms_per_step"].as_f64().unwrap() > 0.0);
        assert!(
            run["flops_per_step"]["total"].as_f64().unwrap()
                >= run["flops_per_step"]["train"].as_f64().unwrap()
        );
        println!("{m}: clean share {:.3}", share(m));
    }
    println!("pool clean share {pool_clean:.3}");
    // what each criterion is known to do with noise (JEST.md; the paper's Fig. 2)
    assert!(
        share("jest") > pool_clean + 0.1,
        "JEST must prefer clean data"
    );
    assert!(
        share("easy-ref") > pool_clean + 0.2,
        "easy-ref must prefer clean data"
    );
    assert!(
        share("hard-learner") < pool_clean + 0.05,
        "hard-learner must not be cleaner than the pool"
    );
    assert!(
        (share("uniform") - pool_clean).abs() < 0.05,
        "uniform sees the pool's mix"
    );
    // every summary row reads its speed-ups both ways; against uniform's whole run is never the
    // lower (uniform's last step is at or after its first touch of its own final R@1)
    for row in r["summary"].as_array().unwrap() {
        for key in ["steps_speedup", "flops_speedup", "steps_speedup_whole_run", "flops_speedup_whole_run"] {
            assert!(row.get(key).is_some(), "summary row lacks `{key}`: {row}");
        }
        if let (Some(strict), Some(whole)) = (row["flops_speedup"].as_f64(), row["flops_speedup_whole_run"].as_f64()) {
            assert!(whole >= strict - 1e-12, "{row}");
        }
    }
    // scoring costs FLOPs: JEST > uniform per step, easy-ref needs no learner forward
    let flops = |m: &str| r["methods"][m]["flops_per_step"]["total"].as_f64().unwrap();
    assert!(flops("jest") > 1.5 * flops("uniform") && flops("easy-ref") < 1.1 * flops("uniform"));

    // the same command again (as after a kill) reuses every finished run: same report, no training
    let again = bin().args(&args).output().unwrap();
    let err2 = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{err2}");
    assert_eq!(err2.matches("(reused: ").count(), 6, "every run is reused:\n{err2}");
    let r2: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r2["runs"], r["runs"]);
    assert_eq!(r2["summary"], r["summary"]);
    // a changed setting is a different run: trained, not reused
    let other = bin().args(base).args(["--methods", "uniform", "--eval-every", "60", "--out", out.to_str().unwrap()]).output().unwrap();
    let err3 = String::from_utf8_lossy(&other.stderr);
    assert!(other.status.success() && !err3.contains("(reused: "), "{err3}");
    // --fresh trains again what would be reused (the run just stored, same settings)
    let fresh = bin().args(base).args(["--methods", "uniform", "--eval-every", "60", "--fresh", "--out", out.to_str().unwrap()]).output().unwrap();
    let err4 = String::from_utf8_lossy(&fresh.stderr);
    assert!(fresh.status.success() && !err4.contains("(reused: "), "{err4}");
    let reuse = bin().args(base).args(["--methods", "uniform", "--eval-every", "60", "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(String::from_utf8_lossy(&reuse.stderr).contains("(reused: "), "without --fresh the same run is reused");
    // uniform never scores, so another gain or chunk count is the same uniform run
    let gain = bin().args(base).args(["--methods", "uniform", "--eval-every", "60", "--score-gain", "10", "--chunks", "8", "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(String::from_utf8_lossy(&gain.stderr).contains("(reused: "), "{}", String::from_utf8_lossy(&gain.stderr));

    // --eval-split validation: evaluated on held-out pool concepts, never on the test split
    let val_out = dir.path().join("validation");
    let val = bin().args(base).args(["--methods", "uniform", "--eval-every", "60", "--eval-split", "validation", "--out", val_out.to_str().unwrap()]).output().unwrap();
    let err5 = String::from_utf8_lossy(&val.stderr);
    assert!(val.status.success(), "{err5}");
    assert!(err5.contains("evaluating on the validation split: 1417 clean pool pairs"), "{err5}");
    let rv: serde_json::Value = serde_json::from_slice(&std::fs::read(val_out.join("results.json")).unwrap()).unwrap();
    assert_eq!(rv["eval_split"], "validation");
    assert_eq!(r2["eval_split"], "test");
    assert!(rv["pool_noise_share"]["clean"].as_f64().unwrap() < pool_clean, "validation pairs leave the training pool");
    assert_ne!(rv["reference_eval"], r["reference_eval"], "the reference is evaluated on the validation pairs");
    assert!(std::fs::read_to_string(val_out.join("index.html")).unwrap().contains("validation: clean pool pairs"));
    let bad = bin().args(base).args(["--eval-split", "train", "--out", val_out.to_str().unwrap()]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("validation"));
}

#[test]
fn impossible_selection_settings_fail_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("r");
    let cases: &[(&[&str], &str)] = &[
        (
            &["compare", "--preset", "tiny", "--filter-ratios", "1.5"],
            "--filter-ratio must lie in [0, 1)",
        ),
        (
            &["compare", "--preset", "tiny", "--filter-ratios", "1"],
            "--filter-ratio must lie in [0, 1)",
        ),
        (
            &["compare", "--preset", "tiny", "--chunks", "5"],
            "must divide the batch size",
        ),
        (
            &["compare", "--preset", "tiny", "--chunks", "0"],
            "must divide the batch size",
        ),
        (
            &["compare", "--preset", "tiny", "--batch", "2048", "--chunks", "2048"],
            "must be at most 1024",
        ),
        (
            &["compare", "--preset", "tiny", "--methods", "uniform,magic"],
            "unknown --method `magic`",
        ),
        (
            &["compare", "--preset", "tiny", "--methods", "jest,learnability"],
            "two names of one method (jest)",
        ),
        (
            &[
                "compare",
                "--preset",
                "tiny",
                "--filter-ratios",
                "0.9999999",
            ],
            "allows at most",
        ),
        (
            &["train", "--method", "jest", "--preset", "tiny"],
            "needs --reference",
        ),
        (
            &["compare", "--preset", "tiny", "--flexi-size", "20"],
            "must be a multiple of the 8-px patch",
        ),
        (
            &["compare", "--preset", "tiny", "--flexi-size", "40"],
            "at most the 32-px image",
        ),
        (
            &["compare", "--preset", "tiny", "--flexi-low-share", "1.5"],
            "--flexi-low-share must lie in [0, 1]",
        ),
    ];
    for (args, want) in cases {
        let out = bin()
            .args(*args)
            .args(["--backend", "cpu"])
            .args(if args[0] == "compare" {
                vec!["--out", o.to_str().unwrap()]
            } else {
                vec![]
            })
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(err.contains(want), "{args:?}: expected `{want}` in:\n{err}");
        assert!(
            !err.contains("training the reference"),
            "{args:?}: the error must come before training:\n{err}"
        );
    }
}

/// `select` curates a pool with a reference and exports what it kept.
#[test]
fn select_exports_the_curated_subset() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("ref.safetensors");
    train_reference(&r, "tiny", "150", &[]);
    let out = dir.path().join("sel");
    let o = bin()
        .args([
            "select",
            "--reference",
            r.to_str().unwrap(),
            "--keep",
            "0.2",
            "--backend",
            "cpu",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    let kept = v["kept"].as_u64().unwrap() as usize;
    let items = v["items"].as_u64().unwrap() as usize;
    assert_eq!(
        kept,
        (items / 320) * 64,
        "64 of every full super-batch of 320"
    );
    assert_eq!(v["kept_per_super_batch"].as_u64(), Some(64));
    assert!((v["kept_fraction"].as_f64().unwrap() - kept as f64 / items as f64).abs() < 1e-12, "{v}");
    assert!(!String::from_utf8_lossy(&o.stderr).contains("rounded down"), "0.2 of 320 is 64, a whole number of chunks");
    let csv = std::fs::read_to_string(out.join("selected.csv")).unwrap();
    assert!(csv.starts_with("index,key,super_batch,chunk,rank,score,joint_score,noise,caption\n"));
    assert_eq!(csv.lines().count(), kept + 1);
    let jsonl = std::fs::read_to_string(out.join("selected.jsonl")).unwrap();
    let mut seen = std::collections::HashSet::new();
    for line in jsonl.lines() {
        let k: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(k["chunk"].as_u64().unwrap() < 16);
        assert!(
            seen.insert(k["index"].as_u64().unwrap()),
            "an item was kept twice"
        );
    }
    assert_eq!(seen.len(), kept);
    assert!(out.join("contact_sheet.png").exists() && out.join("summary.json").exists());
    let (kc, pc) = (
        v["kept_noise_share"]["clean"].as_f64().unwrap(),
        v["data_noise_share"]["clean"].as_f64().unwrap(),
    );
    println!("kept {kept} of {items}: clean {kc:.3} vs {pc:.3} in the pool");
    assert!(
        kc > pc + 0.03,
        "the reference should keep cleaner data: {kc:.3} vs {pc:.3}"
    );
    let bad = bin()
        .args([
            "select",
            "--reference",
            r.to_str().unwrap(),
            "--keep",
            "1.5",
            "--backend",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--keep must be a fraction"));
}

/// Evaluations that do not fall on log steps, and a learner batch equal to the evaluation chunk
/// (128): both once crashed the learner loop.
#[test]
fn odd_eval_points_and_batch_128_work() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("ref.safetensors");
    train_reference(&r, "tiny", "5", &["--batch", "128"]);
    let o = bin()
        .args([
            "train",
            "--method",
            "jest",
            "--preset",
            "tiny",
            "--batch",
            "128",
            "--steps",
            "14",
            "--eval-every",
            "7",
            "--backend",
            "cpu",
            "--json",
        ])
        .args([
            "--reference",
            r.to_str().unwrap(),
            "--out",
            dir.path().join("l.safetensors").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    let steps: Vec<u64> = v["curve"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, vec![7, 14]);
    assert_eq!(v["losses"].as_array().unwrap().len(), 14);
    let f0 = bin()
        .args([
            "train",
            "--method",
            "jest",
            "--preset",
            "tiny",
            "--filter-ratio",
            "0",
            "--backend",
            "cpu",
            "--reference",
            r.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&f0.stderr).contains("nothing to select from"),
        "{}",
        String::from_utf8_lossy(&f0.stderr)
    );
}
