//! `jest-wgpu web-assets`: the files the web page loads — a browser-sized slice of the builtin
//! splits (same atlas + TSV format as data/, with its licences) and a small reference model
//! trained on the full curated split with the browser preset.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use super::PRESET;
use crate::backend::Backend;
use crate::batch::Encoded;
use crate::config::Preset;
use crate::data::{builtin_manifest, encode_atlas, load_builtin, split_tsv, Dataset, SplitMix64, SplitName, Tokenizer};
use crate::train::{new_model, save_model, train, Progress, RunControl, RunSpec};
use crate::util::write_atomic;

/// Items of each split in the slice: curated (for "train the reference here"), pool, test.
pub const SLICE: [usize; 3] = [1000, 2000, 300];
/// Seed of the slice's random choice (fixed: the page and native tests must agree).
pub const SLICE_SEED: u64 = 0x005E_ED0F_57EB;

/// The builtin splits cut to the demo's slice: a seeded random subset of each, in order.
pub fn slice_builtin() -> Result<[Dataset; 3]> {
    let mut out = Vec::new();
    for (k, split) in SplitName::ALL.into_iter().enumerate() {
        let ds = load_builtin(split)?;
        let mut idx: Vec<usize> = (0..ds.len()).collect();
        SplitMix64::new(SLICE_SEED ^ k as u64).shuffle(&mut idx);
        idx.truncate(SLICE[k].min(ds.len()));
        idx.sort_unstable();
        let mut sub = ds.subset(&idx);
        sub.name = format!("demo/{split}");
        out.push(sub);
    }
    out.try_into().map_err(|_| anyhow::anyhow!("three splits expected"))
}

/// Write the data slice (manifest, atlas and TSV per split, licences) under `out/data`.
pub fn write_slice(out: &Path) -> Result<u64> {
    let dir = out.join("data");
    let splits = slice_builtin()?;
    let full = builtin_manifest()?;
    let mut counts = serde_json::Map::new();
    let mut total = 0u64;
    for (split, ds) in SplitName::ALL.into_iter().zip(&splits) {
        let png = encode_atlas(&ds.images, ds.image_size)?;
        let tsv = split_tsv(ds);
        total += (png.len() + tsv.len()) as u64;
        write_atomic(&dir.join(format!("{split}.png")), &png)?;
        write_atomic(&dir.join(format!("{split}.tsv")), tsv.as_bytes())?;
        counts.insert(split.to_string(), json!({ "count": ds.len(), "noise_counts": ds.noise_counts() }));
    }
    let manifest = json!({
        "format": 1,
        "generator": "jest-wgpu web-assets",
        "what": "a seeded random slice of the builtin data for the web demo",
        "slice_seed": SLICE_SEED,
        "image_size": full["image_size"],
        "class_names": full["class_names"],
        "style_names": full["style_names"],
        "splits": counts,
    });
    write_atomic(&dir.join("manifest.json"), serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    for rel in ["ATTRIBUTION.md", "LICENSES"] {
        copy_tree(&src.join(rel), &dir.join(rel))?;
    }
    Ok(total)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if from.is_dir() {
        for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
            let e = e?;
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
        return Ok(());
    }
    write_atomic(to, &std::fs::read(from).with_context(|| format!("reading {}", from.display()))?)
}

/// What the shipped reference is: the browser preset's own recipe (b = 32, its warm-up — not the
/// page's learners' short one) on the whole builtin curated split.
pub fn reference_spec(steps: usize, seed: u64, vocab: usize) -> Result<RunSpec> {
    let mut preset = Preset::named(PRESET, vocab)?;
    preset.train.log_every = 50;
    Ok(RunSpec { preset, steps, seed, method: "reference".into(), data: "builtin/curated".into() })
}

/// Train the shipped reference (`reference_spec`).
pub fn train_reference<B: Backend>(be: &B, steps: usize, seed: u64, out: &Path, progress: bool) -> Result<()> {
    let tok = Tokenizer::builtin()?;
    let spec = reference_spec(steps, seed, tok.vocab_size())?;
    let curated = load_builtin(SplitName::Curated)?;
    let test = load_builtin(SplitName::Test)?;
    let mut model = new_model(be, &spec)?;
    let (c, t) = (Encoded::new(&curated, &tok, spec.preset.model.text_len), Encoded::new(&test, &tok, spec.preset.model.text_len));
    let ctl = RunControl { progress, ..Default::default() };
    let rep = train(be, &mut model, &spec, &ctl, &c, Some(&t), &tok, Progress::default())?;
    if let Some(ev) = &rep.eval {
        eprintln!("reference ({PRESET} preset, {steps} steps): i2t R@1 {:.3}, t2i R@1 {:.3} on the test split", ev.i2t_r1, ev.t2i_r1);
    }
    save_model(be, &model, &spec, out)
}
