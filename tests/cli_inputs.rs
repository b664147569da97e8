//! A command never overwrites, misreads or silently swaps its input: outputs onto the data are
//! refused, a diverged model is not used to select, a resumed run continues only on the data it
//! trained on (found again by its fingerprint when it moved), settings are checked before any
//! work, and a builtin split name that shadows a folder is said.

use std::path::Path;
use std::process::Output;

mod common;
use common::bin;

fn run_in(dir: &Path, args: &[&str]) -> Output {
    bin().current_dir(dir).args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

fn refused(out: Output, want: &str) -> String {
    let err = stderr(&out);
    assert!(!out.status.success(), "should fail:\n{err}");
    assert!(err.contains(want), "expected `{want}` in:\n{err}");
    for late in ["ms per step", "embedding the pool", "panicked", "kept "] {
        assert!(!err.contains(late), "refused late or unclearly (`{late}`):\n{err}");
    }
    err
}

/// Six coloured squares as SVGs with a captions.tsv.
fn squares(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut tsv = String::from("image\tcaption\n");
    for (i, colour) in ["red", "green", "blue", "black", "white", "gray"].iter().enumerate() {
        let svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 6 6\"><rect width=\"6\" height=\"{}\" fill=\"{colour}\"/></svg>", i + 1);
        std::fs::write(dir.join(format!("{colour}.svg")), svg).unwrap();
        tsv += &format!("{colour}.svg\ta {colour} square\n");
    }
    std::fs::write(dir.join("captions.tsv"), tsv).unwrap();
}

#[test]
fn outputs_onto_the_data_and_diverged_models_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    squares(&d.join("sq"));
    let captions = std::fs::read(d.join("sq/captions.tsv")).unwrap();
    let tiny = ["--preset", "tiny", "--batch", "4", "--steps", "2", "--backend", "cpu", "--data", "sq"];
    refused(run_in(d, &[&["train-reference", "--out", "sq/captions.tsv"], &tiny[..]].concat()), "is a file of the data");
    std::fs::copy(d.join("sq/red.svg"), d.join("sq/red.png")).unwrap();
    std::fs::write(d.join("sq/captions.tsv"), String::from_utf8(captions.clone()).unwrap().replace("red.svg", "red.png")).unwrap();
    refused(run_in(d, &["data", "preview", "--split", "sq", "--out", "sq/red.png"]), "is a file of the data");
    std::fs::write(d.join("sq/captions.tsv"), &captions).unwrap();

    // a read-only file is not replaced
    std::fs::write(d.join("kept.safetensors"), b"keep").unwrap();
    let mut perm = std::fs::metadata(d.join("kept.safetensors")).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(d.join("kept.safetensors"), perm).unwrap();
    refused(run_in(d, &[&["train-reference", "--out", "kept.safetensors"], &tiny[..]].concat()), "is read-only");
    assert_eq!(std::fs::read(d.join("kept.safetensors")).unwrap(), b"keep");

    // a reference whose weights hold NaN selects nothing
    ok(run_in(d, &["train-reference", "--preset", "tiny", "--steps", "1", "--backend", "cpu", "--out", "ref.safetensors"]));
    let (tensors, meta) = jest_wgpu::model::params::load_safetensors(&d.join("ref.safetensors")).unwrap();
    let mut list: Vec<(String, Vec<usize>, Vec<f32>)> = tensors.into_iter().map(|(n, (s, v))| (n, s, v)).collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    let head = list.iter_mut().find(|t| t.0 == "image.head.weight").expect("image.head.weight");
    head.2.iter_mut().for_each(|x| *x = f32::NAN);
    jest_wgpu::model::params::save_safetensors(&d.join("nan.safetensors"), &list, meta).unwrap();
    refused(run_in(d, &["select", "--reference", "nan.safetensors", "--data", "sq", "--super-batch", "4", "--keep", "0.5", "--chunks", "1", "--backend", "cpu", "--out", "sel"]), "diverged");
    assert!(!d.join("sel/selected.csv").exists(), "a refused selection wrote its CSV");

    // checked before any work: Flexi-JEST's settings, every bench preset
    refused(run_in(d, &["train", "--method", "flexi-jest", "--preset", "tiny", "--steps", "2", "--backend", "cpu", "--reference", "ref.safetensors", "--flexi-low-share", "2", "--out", "l.safetensors"]), "--flexi-low-share");
    let bench = refused(run_in(d, &["bench", "--presets", "tiny,nope", "--steps", "1"]), "unknown preset `nope`");
    assert!(!bench.contains("GPU adapter"), "bench started before refusing a preset:\n{bench}");

    // on the CPU, a batch whose activations alone exceed the free memory is refused up front
    // (16,384 examples of `large`: at least 80 GiB), instead of aborting on an allocation
    #[cfg(target_os = "linux")]
    refused(run_in(d, &["train-reference", "--preset", "large", "--batch", "16384", "--steps", "1", "--backend", "cpu", "--out", "big.safetensors"]), "GiB available");

    // a data path a run cannot record as text is refused, saying why (not "does not exist" later)
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let odd = d.join(std::ffi::OsStr::from_bytes(b"data\xff"));
        squares(&odd);
        refused(run_in(&odd, &[&["train-reference", "--out", "../odd.safetensors"], &tiny[..8], &["--data", "."]].concat()), "not valid UTF-8");
    }

    // a folder named like a builtin split is shadowed, and the note says how to reach it
    squares(&d.join("pool"));
    let info = ok(run_in(d, &["data", "info", "--split", "pool"]));
    assert!(stderr(&info).contains("write ./pool"), "{}", stderr(&info));
    let mine = ok(run_in(d, &["data", "info", "--split", "./pool"]));
    assert!(String::from_utf8_lossy(&mine.stdout).contains("6 items"), "{}", String::from_utf8_lossy(&mine.stdout));
}

#[test]
fn a_resumed_run_continues_only_on_its_own_data() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    squares(&d.join("sq"));
    let start = ["train-reference", "--preset", "tiny", "--batch", "4", "--steps", "3", "--backend", "cpu", "--data", "sq", "--run-dir", "run", "--checkpoint-every", "1", "--out", "r.safetensors"];
    ok(run_in(d, &start));
    assert_eq!(std::fs::read_to_string(d.join("run/data.sha256")).unwrap().trim().len(), 64);
    let resume = |extra: &[&str]| run_in(d, &[&["train-reference", "--resume", "run", "--backend", "cpu", "--out", "r2.safetensors"], extra].concat());

    // only write_atomic's own temporaries are cleared from a run folder
    std::fs::write(d.join("run/checkpoint.safetensors.tmp4242"), b"half").unwrap();
    std::fs::write(d.join("run/checkpoint.safetensors.tmp.notes"), b"mine").unwrap();
    ok(resume(&[]));
    assert!(!d.join("run/checkpoint.safetensors.tmp4242").exists());
    assert_eq!(std::fs::read(d.join("run/checkpoint.safetensors.tmp.notes")).unwrap(), b"mine");

    // moved: named with its new place, accepted by the fingerprint
    std::fs::rename(d.join("sq"), d.join("moved")).unwrap();
    let err = stderr(&resume(&[]));
    assert!(err.contains("resume with --data at its new place"), "{err}");
    let moved = ok(resume(&["--data", "moved"]));
    assert!(stderr(&moved).contains("resuming on --data moved"), "{}", stderr(&moved));

    // a run still training holds its folder: a second process there is refused
    let mut live = bin()
        .current_dir(d)
        .args(["train-reference", "--preset", "tiny", "--batch", "4", "--steps", "100000", "--backend", "cpu", "--data", "moved", "--run-dir", "live", "--checkpoint-every", "5", "--out", "l.safetensors"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !d.join("live/checkpoint.safetensors").exists() {
        assert!(t0.elapsed().as_secs() < 120 && live.try_wait().unwrap().is_none(), "the live run wrote no checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut second = bin()
        .current_dir(d)
        .args(["train-reference", "--resume", "live", "--backend", "cpu", "--out", "l2.safetensors"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // refused at once; one that trains instead would run for minutes
    let t0 = std::time::Instant::now();
    while second.try_wait().unwrap().is_none() && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let trained = second.try_wait().unwrap().is_none();
    for p in [&mut second, &mut live] {
        let _ = p.kill();
    }
    live.wait().unwrap();
    let second = second.wait_with_output().unwrap();
    assert!(!trained, "a second process trained in the folder of a live run");
    assert!(!second.status.success() && stderr(&second).contains("another jest-wgpu process is training in live"), "{}", stderr(&second));

    // changed: one caption differs, so the run cannot continue on it
    let tsv = std::fs::read_to_string(d.join("moved/captions.tsv")).unwrap();
    std::fs::write(d.join("moved/captions.tsv"), tsv.replace("a red square", "a crimson square")).unwrap();
    let out = resume(&["--data", "moved"]);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not what the run in run trained on"), "{}", stderr(&out));
}
