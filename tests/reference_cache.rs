//! The reference-embedding cache beside a reference checkpoint: reused only for the same
//! checkpoint and the same pool contents; a malformed or non-finite cache is recomputed, never
//! trusted (and never a panic); a diverged reference, or one of another architecture, is refused
//! before training.

use std::collections::HashMap;
use std::path::Path;

use jest_wgpu::batch::Encoded;
use jest_wgpu::data::{load_builtin, SplitName, Tokenizer};
use jest_wgpu::jest::cache::{load_cache, pool_sha256};
use jest_wgpu::model::params::{load_safetensors, save_safetensors};

mod common;
use common::{bin, train_reference};

type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

fn good() -> Tensors {
    vec![("u".into(), vec![3, 2], vec![0.1; 6]), ("v".into(), vec![3, 2], vec![0.2; 6]), ("t_bias".into(), vec![2], vec![2.3, -10.0])]
}

fn write(path: &Path, tensors: &Tensors, pool_sha: &str) {
    let meta = HashMap::from([
        ("reference_sha256".to_string(), "refsha".to_string()),
        ("data".to_string(), "pool".to_string()),
        ("pool_sha256".to_string(), pool_sha.to_string()),
    ]);
    save_safetensors(path, tensors, meta).unwrap();
}

#[test]
fn a_cache_is_reused_only_for_the_same_pool_and_only_when_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ref.pool-emb.safetensors");
    write(&p, &good(), "poolsha");
    let c = load_cache(&p, "refsha", "pool", "poolsha", 3).unwrap();
    assert_eq!((c.n, c.d, c.t_bias), (3, 2, [2.3, -10.0]));

    let err = |t: &Tensors, pool_sha: &str| {
        write(&p, t, pool_sha);
        format!("{:#}", load_cache(&p, "refsha", "pool", "poolsha", 3).expect_err("refused"))
    };
    // the same name and size, other contents: the pool was edited since
    assert!(err(&good(), "other").contains("as it was then"));
    let mut short_bias = good();
    short_bias[2] = ("t_bias".into(), vec![1], vec![2.3]);
    assert!(err(&short_bias, "poolsha").contains("malformed"));
    let mut short_v = good();
    short_v[1] = ("v".into(), vec![1, 2], vec![0.2; 2]);
    assert!(err(&short_v, "poolsha").contains("malformed"));
    let mut narrow = good();
    narrow[0] = ("u".into(), vec![3, 1], vec![0.1; 3]);
    assert!(err(&narrow, "poolsha").contains("malformed"));
    let mut nan = good();
    nan[0].2[4] = f32::NAN;
    assert!(err(&nan, "poolsha").contains("non-finite"));
}

#[test]
fn the_pool_fingerprint_sees_one_changed_pixel_and_one_changed_word() {
    let tok = Tokenizer::builtin().unwrap();
    let test = load_builtin(SplitName::Test).unwrap();
    let base = pool_sha256(&Encoded::new(&test, &tok, 16));
    assert_eq!(base, pool_sha256(&Encoded::new(&test, &tok, 16)), "deterministic");
    let mut pixel = test.clone();
    pixel.images[12345] ^= 1;
    assert_ne!(base, pool_sha256(&Encoded::new(&pixel, &tok, 16)));
    let mut word = test.clone();
    word.captions[7] = format!("{} red", word.captions[7]);
    assert_ne!(base, pool_sha256(&Encoded::new(&word, &tok, 16)));
}

#[test]
fn a_diverged_reference_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("ref.safetensors");
    train_reference(&good, "tiny", "2", &[]);
    let (mut tensors, meta) = load_safetensors(&good).unwrap();
    tensors.get_mut("image.head.weight").expect("image.head.weight").1[0] = f32::INFINITY;
    let bad = dir.path().join("diverged.safetensors");
    let list: Tensors = tensors.into_iter().map(|(k, (s, v))| (k, s, v)).collect();
    save_safetensors(&bad, &list, meta).unwrap();
    let o = bin()
        .args(["train", "--method", "jest", "--preset", "tiny", "--steps", "2", "--backend", "cpu", "--reference", bad.to_str().unwrap()])
        .args(["--out", dir.path().join("l.safetensors").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a diverged reference must be refused:\n{err}");
    assert!(err.contains("non-finite") && err.contains("diverged.safetensors"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The same tensors and metadata give the same file bytes, whatever order the metadata map
/// iterates in (each HashMap has its own hash keys): a reference trained again identically keeps
/// its SHA-256, so runs and caches recorded against it stay valid. The file still loads.
#[test]
fn equal_models_are_equal_files() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<(String, String)> = (0..16).map(|i| (format!("key{i:02}"), format!("value {i}"))).collect();
    let files: Vec<Vec<u8>> = (0..6)
        .map(|k| {
            let mut order = keys.clone();
            order.rotate_left(k);
            let p = dir.path().join(format!("m{k}.safetensors"));
            save_safetensors(&p, &good(), order.into_iter().collect()).unwrap();
            std::fs::read(&p).unwrap()
        })
        .collect();
    assert!(files.windows(2).all(|w| w[0] == w[1]), "the same model saved six times gave different bytes");
    let (tensors, meta) = load_safetensors(&dir.path().join("m0.safetensors")).unwrap();
    assert_eq!(meta, keys.into_iter().collect::<HashMap<_, _>>());
    for (name, shape, data) in good() {
        assert_eq!((&tensors[&name].0, &tensors[&name].1), (&shape, &data), "{name}");
    }
}

#[test]
fn a_reference_of_another_architecture_or_a_stale_cache_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let default_ref = d.join("ref-default.safetensors");
    train_reference(&default_ref, "default", "1", &[]);
    // a `default` reference for a `tiny` learner: different embedding size
    let o = bin()
        .args([
            "train",
            "--method",
            "jest",
            "--preset",
            "tiny",
            "--steps",
            "2",
            "--backend",
            "cpu",
            "--reference",
            default_ref.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && (err.contains("same preset")),
        "{err}"
    );
    // a cache made from one checkpoint is not used for another
    let tiny_a = d.join("a.safetensors");
    let tiny_b = d.join("b.safetensors");
    for (p, seed) in [(&tiny_a, "1"), (&tiny_b, "2")] {
        train_reference(p, "tiny", "3", &["--seed", seed]);
    }
    let run = |r: &std::path::Path| {
        bin()
            .args([
                "train",
                "--method",
                "jest",
                "--preset",
                "tiny",
                "--steps",
                "2",
                "--backend",
                "cpu",
                "--reference",
                r.to_str().unwrap(),
                "--out",
                d.join("l.safetensors").to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    assert!(run(&tiny_a).status.success());
    let cache_a = jest_wgpu::jest::cache::cache_path(&tiny_a);
    std::fs::copy(&cache_a, jest_wgpu::jest::cache::cache_path(&tiny_b)).unwrap();
    let o = run(&tiny_b);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("computed from another reference checkpoint") && err.contains("recomputing"),
        "{err}"
    );
    let sha_b = format!(
        "{:x}",
        <sha2::Sha256 as sha2::Digest>::digest(std::fs::read(&tiny_b).unwrap())
    );
    let e = jest_wgpu::jest::cache::load_cache(&cache_a, &sha_b, "pool", "", 18689)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("another reference checkpoint"), "{e}");
}
