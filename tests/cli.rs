//! The command line as users script it: --json output, kill + --resume, and clear errors for
//! impossible configs, corrupt checkpoints and a diverging run.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::bin;

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run jest-wgpu")
}

fn last_json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| panic!("no stdout; stderr:\n{}", String::from_utf8_lossy(&out.stderr)));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("last stdout line is not JSON ({e}): {line}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn train_reference_json_has_the_documented_keys() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("ref.safetensors");
    let out = run(&["train-reference", "--preset", "tiny", "--steps", "12", "--backend", "cpu", "--seed", "3", "--out", model.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = last_json(&out);
    for key in ["backend", "adapter", "preset", "seed", "steps", "losses", "eval", "ms_per_step"] {
        assert!(v.get(key).is_some(), "missing `{key}` in {v}");
    }
    assert_eq!(v["backend"], "cpu");
    assert_eq!(v["preset"], "tiny");
    assert_eq!(v["seed"], 3);
    assert_eq!(v["losses"].as_array().unwrap().len(), 12);
    for key in ["zero_shot_acc", "i2t_r1", "t2i_r1", "i2t_r5", "t2i_r5"] {
        let x = v["eval"][key].as_f64().unwrap_or_else(|| panic!("eval.{key} missing in {v}"));
        assert!((0.0..=1.0).contains(&x));
    }
    // the saved model evaluates to the same numbers
    let ev = run(&["eval", "--model", model.to_str().unwrap(), "--backend", "cpu", "--json"]);
    assert!(ev.status.success(), "{}", stderr(&ev));
    assert_eq!(last_json(&ev)["eval"], v["eval"]);
}

fn losses_of(v: &serde_json::Value) -> Vec<f64> {
    v["losses"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// Start `args` with `--run-dir run_dir --checkpoint-every 10` and kill it once its first
/// checkpoint is written.
fn kill_after_first_checkpoint(args: &[&str], run_dir: &Path) {
    let mut child = bin()
        .args(args)
        .args(["--run-dir", run_dir.to_str().unwrap(), "--checkpoint-every", "10"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ckpt = run_dir.join("checkpoint.safetensors");
    let t0 = Instant::now();
    while !ckpt.exists() {
        assert!(t0.elapsed() < Duration::from_secs(120), "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before it could be killed; make it longer");
}

#[test]
fn killed_run_resumes_to_the_same_losses() {
    let steps = "400";
    let base = ["train-reference", "--preset", "tiny", "--steps", steps, "--backend", "cpu", "--seed", "5", "--json"];
    let dir = tempfile::tempdir().unwrap();
    let full = run(&[&base[..], &["--out", dir.path().join("a.safetensors").to_str().unwrap()]].concat());
    assert!(full.status.success(), "{}", stderr(&full));
    let want = losses_of(&last_json(&full));

    let run_dir = dir.path().join("run");
    kill_after_first_checkpoint(&[&base[..], &["--out", dir.path().join("b.safetensors").to_str().unwrap()]].concat(), &run_dir);

    // a run setting given with --resume is ignored, and said to be (the losses below stay the same)
    let resumed = run(&["train-reference", "--resume", run_dir.to_str().unwrap(), "--backend", "cpu", "--json", "--lr", "0.5", "--out", dir.path().join("c.safetensors").to_str().unwrap()]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(stderr(&resumed).contains("resuming") && stderr(&resumed).contains("--lr ignored"), "{}", stderr(&resumed));
    let got = losses_of(&last_json(&resumed));
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * w.abs(), "step {}: resumed {g} vs uninterrupted {w}", i + 1);
    }
}

/// A JEST or Flexi-JEST run killed after a checkpoint continues, from its run directory alone,
/// to the same run: losses, evaluation curve (its cadence is stored) and selection statistics.
#[test]
fn killed_selection_run_resumes_to_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("ref.safetensors");
    let r = run(&["train-reference", "--preset", "tiny", "--steps", "30", "--backend", "cpu", "--out", reference.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
    for method in ["jest", "flexi-jest"] {
        let out = |name: &str| dir.path().join(format!("{method}-{name}.safetensors")).to_str().unwrap().to_string();
        let base = ["train", "--method", method, "--preset", "tiny", "--steps", "200", "--eval-every", "50", "--backend", "cpu", "--seed", "2", "--json"];
        let with_ref = [&base[..], &["--reference", reference.to_str().unwrap()]].concat();
        let full = run(&[&with_ref[..], &["--out", &out("a")]].concat());
        assert!(full.status.success(), "{}", stderr(&full));
        let want = last_json(&full);

        let run_dir = dir.path().join(format!("run-{method}"));
        kill_after_first_checkpoint(&[&with_ref[..], &["--out", &out("b")]].concat(), &run_dir);
        // only the run directory: the method, selection settings, reference and cadence are stored;
        // a reference that moved since is named again with --reference and checked by its hash
        let moved = dir.path().join("moved-ref.safetensors");
        let out_c = out("c");
        let mut resume = vec!["train", "--resume", run_dir.to_str().unwrap(), "--backend", "cpu", "--json", "--out", &out_c];
        if method == "jest" {
            std::fs::rename(&reference, &moved).unwrap();
            let lost = run(&resume);
            assert!(!lost.status.success() && stderr(&lost).contains("pass its new path with --reference"), "{}", stderr(&lost));
            let wrong = run(&[&resume[..], &["--reference", &out("a")]].concat());
            assert!(!wrong.status.success() && stderr(&wrong).contains("is not the reference"), "{}", stderr(&wrong));
            resume.extend(["--reference", moved.to_str().unwrap()]);
        }
        let resumed = run(&resume);
        if method == "jest" {
            std::fs::rename(&moved, &reference).unwrap();
        }
        assert!(resumed.status.success(), "{method}: {}", stderr(&resumed));
        assert!(stderr(&resumed).contains("resuming"), "{}", stderr(&resumed));
        let got = last_json(&resumed);
        assert_eq!(got["method"], method);
        assert_eq!(losses_of(&got), losses_of(&want), "{method}: losses after resume");
        for key in ["curve", "selection", "selected_noise_share", "eval", "filter_ratio", "chunks"] {
            assert_eq!(got[key], want[key], "{method}: `{key}` after resume");
        }
    }
    // a reference changed since the checkpoint would score another run: refused, clearly
    let mut bytes = std::fs::read(&reference).unwrap();
    bytes.push(0);
    std::fs::write(&reference, bytes).unwrap();
    // (run-jest now records the moved path it was resumed with; run-flexi-jest the original)
    let out = run(&["train", "--resume", dir.path().join("run-flexi-jest").to_str().unwrap(), "--backend", "cpu"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("changed since the run"), "{}", stderr(&out));
}

#[test]
fn impossible_configs_fail_before_training_with_clear_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["train-reference", "--preset", "huge"], "unknown preset"),
        (&["train-reference", "--preset", "tiny", "--steps", "0", "--backend", "cpu"], "--steps must be at least 1"),
        (&["train-reference", "--preset", "tiny", "--batch", "1", "--backend", "cpu"], "batch must be at least 2"),
        (&["train-reference", "--preset", "tiny", "--batch", "3000000", "--backend", "cpu"], "allows at most"),
        (&["train", "--method", "magic", "--preset", "tiny", "--backend", "cpu"], "unknown --method `magic`; choose one of"),
        (&["train-reference", "--preset", "tiny", "--lr=-1", "--backend", "cpu"], "learning rate"),
        (&["train-reference", "--preset", "tiny", "--checkpoint-every", "5", "--backend", "cpu"], "--checkpoint-every needs --run-dir"),
        // the reference trains without selection: the learner's selection flags are refused
        (&["train-reference", "--preset", "tiny", "--method", "jest", "--backend", "cpu"], "unexpected argument '--method'"),
        (&["train-reference", "--preset", "tiny", "--filter-ratio", "0.9", "--backend", "cpu"], "unexpected argument '--filter-ratio'"),
    ];
    for (args, want) in cases {
        let out = run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert!(err.contains(want), "{args:?}: expected `{want}` in:\n{err}");
        assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    }
}

#[test]
fn missing_or_corrupt_checkpoints_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.safetensors");
    let out = run(&["eval", "--model", missing.to_str().unwrap(), "--backend", "cpu"]);
    assert!(stderr(&out).contains("cannot read checkpoint"), "{}", stderr(&out));
    let corrupt = dir.path().join("bad.safetensors");
    std::fs::write(&corrupt, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all").unwrap();
    let out = run(&["eval", "--model", corrupt.to_str().unwrap(), "--backend", "cpu"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not a valid safetensors checkpoint"), "{}", stderr(&out));
    // a truncated real model
    let good = dir.path().join("good.safetensors");
    let t = run(&["train-reference", "--preset", "tiny", "--steps", "2", "--backend", "cpu", "--out", good.to_str().unwrap()]);
    assert!(t.status.success(), "{}", stderr(&t));
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&corrupt, &bytes[..bytes.len() / 2]).unwrap();
    let out = run(&["eval", "--model", corrupt.to_str().unwrap(), "--backend", "cpu"]);
    assert!(stderr(&out).contains("truncated or corrupt"), "{}", stderr(&out));
    let out = run(&["train-reference", "--resume", dir.path().to_str().unwrap(), "--backend", "cpu"]);
    assert!(stderr(&out).contains("no checkpoint to resume"), "{}", stderr(&out));
}

#[test]
fn a_diverging_run_stops_with_the_step_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let out = run(&[
        "train-reference", "--preset", "tiny", "--steps", "200", "--backend", "cpu", "--lr", "1e30",
        "--run-dir", run_dir.to_str().unwrap(), "--checkpoint-every", "1",
    ]);
    assert!(!out.status.success(), "a run at lr 1e30 must diverge");
    let err = stderr(&out);
    assert!(err.contains("training diverged") && err.contains("at step"), "{err}");
    assert!(err.contains("last good checkpoint is kept"), "{err}");
    // and says what helps: --resume would keep the learning rate that diverged
    assert!(err.contains("Start a new run with a lower --lr"), "{err}");
    // the kept checkpoint is loadable and holds only finite losses
    let meta = std::fs::read(run_dir.join("checkpoint.safetensors")).unwrap();
    assert!(!meta.is_empty());
    let st = jest_wgpu::model::params::load_safetensors(&run_dir.join("checkpoint.safetensors")).unwrap();
    let losses: Vec<f32> = serde_json::from_str(&st.1["losses"]).unwrap();
    assert!(!losses.is_empty() && losses.iter().all(|l| l.is_finite()));
    assert!(Path::new(&run_dir).exists());
}

/// Output paths are checked before any training, and nothing already there is lost: a folder,
/// a FIFO, another run's checkpoint or the reference itself is refused; a link is written through.
#[test]
fn outputs_are_checked_first_and_never_replace_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let tiny = ["--preset", "tiny", "--steps", "2", "--backend", "cpu"];
    let refused = |args: &[&str], want: &str| {
        let out = run(args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} should fail:\n{err}");
        assert!(err.contains(want), "{args:?}: expected `{want}` in:\n{err}");
        assert!(!err.contains("ms per step") && !err.contains("panicked"), "{args:?}: refused only after training:\n{err}");
    };
    std::fs::create_dir(p("folder")).unwrap();
    refused(&[&["train-reference"], &tiny[..], &["--out", &p("folder")]].concat(), "is a folder");
    refused(&[&["train-reference"], &tiny[..], &["--out", &format!("{}/", p("new"))]].concat(), "names a folder");
    std::fs::write(p("file"), b"keep me").unwrap();
    refused(&["select", "--reference", &p("none.safetensors"), "--backend", "cpu", "--out", &p("file")], "is not a folder");
    refused(&["compare", "--preset", "tiny", "--backend", "cpu", "--out", &p("file")], "is not a folder");
    assert_eq!(std::fs::read(p("file")).unwrap(), b"keep me");
    #[cfg(unix)]
    {
        assert!(Command::new("mkfifo").arg(p("fifo")).status().unwrap().success());
        refused(&[&["train-reference"], &tiny[..], &["--out", &p("fifo")]].concat(), "not a regular file");
    }

    // a run folder with a checkpoint in it is continued with --resume, never overwritten
    let r = run(&[&["train-reference"], &tiny[..], &["--out", &p("ref.safetensors"), "--run-dir", &p("run"), "--checkpoint-every", "1"]].concat());
    assert!(r.status.success(), "{}", stderr(&r));
    let ckpt = std::fs::read(dir.path().join("run/checkpoint.safetensors")).unwrap();
    refused(&[&["train"], &tiny[..], &["--run-dir", &p("run"), "--out", &p("l.safetensors")]].concat(), "--resume");
    refused(&[&["train-reference"], &tiny[..], &["--run-dir", &p("run2"), "--out", &p("run2/checkpoint.safetensors")]].concat(), "the run's own checkpoint");
    assert_eq!(std::fs::read(dir.path().join("run/checkpoint.safetensors")).unwrap(), ckpt);

    // the learner never lands on the reference it scores with
    let reference = std::fs::read(p("ref.safetensors")).unwrap();
    refused(&[&["train", "--method", "jest", "--reference", &p("ref.safetensors")], &tiny[..], &["--out", &p("ref.safetensors")]].concat(), "is the reference");
    assert_eq!(std::fs::read(p("ref.safetensors")).unwrap(), reference);

    // a symbolic link is written through: the link stays, its target gets the model
    #[cfg(unix)]
    {
        std::fs::write(p("target.safetensors"), b"old").unwrap();
        std::os::unix::fs::symlink(p("target.safetensors"), p("link.safetensors")).unwrap();
        let r = run(&[&["train-reference"], &tiny[..], &["--out", &p("link.safetensors")]].concat());
        assert!(r.status.success(), "{}", stderr(&r));
        assert!(std::fs::symlink_metadata(p("link.safetensors")).unwrap().file_type().is_symlink());
        assert!(std::fs::read(p("target.safetensors")).unwrap().len() > 1000);
    }
    assert!(!dir.path().join("new").exists() && !dir.path().join("run2").exists(), "a refused run leaves no folder behind");
    let leftovers: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.contains(".tmp")).collect();
    assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
}

/// Settings that cannot work are refused before any training or embedding, each naming the
/// flag and what to give instead; flags a run does not use are said to be unused.
#[test]
fn bad_settings_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let refused = |args: &[&str], want: &str| {
        let out = run(args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} should fail:\n{err}");
        assert!(err.contains(want), "{args:?}: expected `{want}` in:\n{err}");
        for late in ["ms per step", "embedding the pool", "reference on the", "panicked", "unexpected argument"] {
            assert!(!err.contains(late), "{args:?}: refused late or unclearly (`{late}`):\n{err}");
        }
    };
    let tiny = ["--preset", "tiny", "--backend", "cpu"];
    // negative numbers reach the range checks instead of the argument parser
    refused(&[&["train", "--lr", "-1"], &tiny[..]].concat(), "learning rate must be a positive number (got -1)");
    refused(&[&["train", "--method", "jest", "--filter-ratio", "-0.1"], &tiny[..]].concat(), "--filter-ratio must lie in [0, 1) (got -0.1)");
    refused(&["select", "--reference", &p("none.safetensors"), "--keep", "-0.5", "--backend", "cpu", "--out", &p("sel")], "--keep must be a fraction");
    // compare: nothing to run, too few evaluations, nothing to select from
    refused(&[&["compare", "--seeds", "0"], &tiny[..]].concat(), "--seeds 0 runs nothing");
    refused(&[&["compare", "--steps", "20", "--eval-every", "20"], &tiny[..]].concat(), "gives 1 evaluation(s)");
    refused(&[&["compare", "--eval-every", "0"], &tiny[..]].concat(), "gives 0 evaluation(s)");
    refused(&[&["compare", "--methods", "uniform,jest", "--filter-ratios", "0", "--out", &p("c")], &tiny[..]].concat(), "nothing to select from");
    refused(&["bench", "--size", "0"], "--size 0 must lie in");
    refused(&["bench", "--size", "100000"], "--size 100000 must lie in");
    refused(&["data", "preview", "--split", "pool", "--out", &p("sheet.jpg")], "ending in .png");
    refused(&["data", "preview", "--split", "pool", "--noise", "foo", "--out", &p("sheet.png")], "the kinds are clean, mismatched");

    // a reference (or learner) of another preset is refused before the pool is embedded
    let r = run(&["train-reference", "--preset", "default", "--steps", "1", "--backend", "cpu", "--out", &p("ref-default.safetensors")]);
    assert!(r.status.success(), "{}", stderr(&r));
    refused(&[&["train", "--method", "jest", "--steps", "2", "--reference", &p("ref-default.safetensors"), "--out", &p("l.safetensors")], &tiny[..]].concat(), "is a `default` model");
    let r = run(&[&["train-reference", "--steps", "1", "--out", &p("ref-tiny.safetensors")], &tiny[..]].concat());
    assert!(r.status.success(), "{}", stderr(&r));
    refused(&["select", "--reference", &p("ref-tiny.safetensors"), "--learner", &p("ref-default.safetensors"), "--backend", "cpu", "--out", &p("sel")], "the learner");
    refused(&["select", "--reference", &p("ref-tiny.safetensors"), "--chunks", "0", "--backend", "cpu", "--out", &p("sel")], "--chunks must be at least 1");

    // resuming: the command that continues a run is named; a file is not a run folder
    let r = run(&[&["train-reference", "--steps", "2", "--run-dir", &p("run"), "--checkpoint-every", "1", "--out", &p("r.safetensors")], &tiny[..]].concat());
    assert!(r.status.success(), "{}", stderr(&r));
    refused(&["train", "--resume", &p("run"), "--backend", "cpu"], "jest-wgpu train-reference --resume");
    refused(&["train", "--resume", &p("r.safetensors"), "--backend", "cpu"], "takes the folder given as --run-dir");
    let resumed = run(&["train-reference", "--resume", &p("run"), "--steps", "50", "--seed", "4", "--backend", "cpu", "--out", &p("r2.safetensors")]);
    assert!(resumed.status.success() && stderr(&resumed).contains("--steps, --seed ignored"), "{}", stderr(&resumed));

    // select keeps a whole number of chunks, and says so when that is not --keep
    let sel = run(&["select", "--reference", &p("ref-tiny.safetensors"), "--keep", "0.5", "--chunks", "64", "--backend", "cpu", "--out", &p("sel2"), "--json"]);
    assert!(sel.status.success(), "{}", stderr(&sel));
    assert!(stderr(&sel).contains("keeping 128 of each super-batch of 320 (0.400, not --keep 0.5)"), "{}", stderr(&sel));
    assert_eq!(last_json(&sel)["kept_per_super_batch"], 128);

    // data without zero-shot labels has no zero-shot accuracy (null, not 0)
    let ud = dir.path().join("ud");
    std::fs::create_dir(&ud).unwrap();
    let mut tsv = String::from("image\tcaption\n");
    for (i, colour) in ["red", "green", "blue", "black", "white"].iter().enumerate() {
        let svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 4 4\"><rect width=\"4\" height=\"{}\" fill=\"{colour}\"/></svg>", i + 1);
        std::fs::write(ud.join(format!("{colour}.svg")), svg).unwrap();
        tsv += &format!("{colour}.svg\ta {colour} square\n");
    }
    std::fs::write(ud.join("captions.tsv"), tsv).unwrap();
    let ev = run(&["eval", "--model", &p("ref-tiny.safetensors"), "--data", ud.to_str().unwrap(), "--backend", "cpu", "--json"]);
    assert!(ev.status.success(), "{}", stderr(&ev));
    assert!(stderr(&ev).contains("zero-shot n/a (no labelled items)"), "{}", stderr(&ev));
    let v = last_json(&ev);
    assert!(v["eval"]["zero_shot_acc"].is_null() && v["eval"]["items"] == 5 && v["eval"]["labelled"] == 0, "{v}");

    // uniform scores nothing: the selection flags given to it are said to be unused
    let u = run(&[&["train", "--method", "uniform", "--steps", "1", "--chunks", "7", "--score-gain", "5", "--out", &p("u.safetensors")], &tiny[..]].concat());
    assert!(u.status.success(), "{}", stderr(&u));
    assert!(stderr(&u).contains("so --chunks, --score-gain not used"), "{}", stderr(&u));
}
