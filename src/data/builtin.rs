//! The builtin splits embedded from data/ (PNG atlas + TSV per split, manifest.json): no network.

use super::atlas::decode_atlas;
use super::{Dataset, NoiseKind, SplitName};
use anyhow::{Context, Result};

// The browser build leaves the 16 MB out: the page fetches its own slice (web/assets/data).
#[cfg(not(target_arch = "wasm32"))]
macro_rules! data_file {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/", $name)) as &'static [u8]
    };
}
#[cfg(target_arch = "wasm32")]
macro_rules! data_file {
    ($name:literal) => {
        &[] as &'static [u8]
    };
}

static MANIFEST: &[u8] = data_file!("manifest.json");

fn split_files(split: SplitName) -> (&'static [u8], &'static [u8]) {
    match split {
        SplitName::Curated => (data_file!("curated.png"), data_file!("curated.tsv")),
        SplitName::Pool => (data_file!("pool.png"), data_file!("pool.tsv")),
        SplitName::Test => (data_file!("test.png"), data_file!("test.tsv")),
    }
}

const NOT_BUILT: &str = "the builtin data in data/ has not been built: run \
    `scripts/fetch-data-sources.sh DIR` then `jest-wgpu data build --sources DIR --out data` \
    and rebuild the crate";

/// The manifest of the shipped data (sources, SHA-256, counts), as JSON.
pub fn builtin_manifest() -> Result<serde_json::Value> {
    anyhow::ensure!(!MANIFEST.is_empty(), "data/manifest.json is empty: {NOT_BUILT}");
    serde_json::from_slice(MANIFEST).context("data/manifest.json is not valid JSON")
}

/// Header line of a split's TSV file.
pub const TSV_HEADER: &str = "key\tconcept\tlabel\tstyle\tnoise\tcaption";

/// Loads a builtin split from the data embedded at compile time.
pub fn load_builtin(split: SplitName) -> Result<Dataset> {
    let (png, tsv) = split_files(split);
    anyhow::ensure!(!png.is_empty() && !tsv.is_empty(), "data/{split}.png or data/{split}.tsv is empty: {NOT_BUILT}");
    let manifest = builtin_manifest()?;
    let mut ds = from_parts(&manifest, png, tsv, split, "data")?;
    ds.name = format!("builtin/{split}");
    Ok(ds)
}

/// Loads a split from a folder written by `data build` (instead of the embedded copy).
#[cfg(not(target_arch = "wasm32"))]
pub fn load_built_dir(dir: &std::path::Path, split: SplitName) -> Result<Dataset> {
    let read = |f: &str| {
        let p = dir.join(f);
        std::fs::read(&p).with_context(|| format!("reading {}: is it a folder written by `data build`?", p.display()))
    };
    let manifest: serde_json::Value = serde_json::from_slice(&read("manifest.json")?)
        .with_context(|| format!("{}/manifest.json is not valid JSON", dir.display()))?;
    let (png, tsv) = (read(&format!("{split}.png"))?, read(&format!("{split}.tsv"))?);
    from_parts(&manifest, &png, &tsv, split, &dir.display().to_string())
}

pub fn from_parts(manifest: &serde_json::Value, png: &[u8], tsv: &[u8], split: SplitName, dir: &str) -> Result<Dataset> {
    let strings = |k: &str| -> Result<Vec<String>> {
        serde_json::from_value(manifest[k].clone()).with_context(|| format!("{dir}/manifest.json: field `{k}`"))
    };
    let class_names = strings("class_names")?;
    let style_names = strings("style_names")?;
    let image_size = manifest["image_size"].as_u64().with_context(|| format!("{dir}/manifest.json: field `image_size`"))? as usize;
    let expected = manifest["splits"][split.as_str()]["count"]
        .as_u64()
        .with_context(|| format!("{dir}/manifest.json: splits.{split}.count"))? as usize;
    let text = std::str::from_utf8(tsv).with_context(|| format!("{dir}/{split}.tsv is not UTF-8"))?;
    let mut ds = parse_split_tsv(text, &format!("{dir}/{split}.tsv"), &style_names)?;
    anyhow::ensure!(
        ds.len() == expected,
        "{dir}/{split}.tsv has {} items but the manifest says {expected}: the data files disagree; rebuild",
        ds.len()
    );
    ds.name = format!("{dir}/{split}");
    ds.image_size = image_size;
    ds.class_names = class_names;
    ds.style_names = style_names;
    ds.images = decode_atlas(png, image_size, ds.len(), &format!("{dir}/{split}.png"))?;
    ds.validate()?;
    Ok(ds)
}

/// Parses a split TSV (with [`TSV_HEADER`]); images are left empty.
pub fn parse_split_tsv(text: &str, what: &str, style_names: &[String]) -> Result<Dataset> {
    let mut lines = text.lines();
    anyhow::ensure!(lines.next() == Some(TSV_HEADER), "{what}: first line must be `{TSV_HEADER}`");
    let mut ds = Dataset::empty(what, 0);
    for (i, line) in lines.enumerate() {
        let lineno = i + 2;
        let f: Vec<&str> = line.split('\t').collect();
        anyhow::ensure!(f.len() == 6, "{what} line {lineno}: expected 6 tab-separated fields, found {}", f.len());
        let concept = f[1].parse::<u32>().with_context(|| format!("{what} line {lineno}: bad concept `{}`", f[1]))?;
        let label = if f[2] == "-" {
            u32::MAX
        } else {
            f[2].parse::<u32>().with_context(|| format!("{what} line {lineno}: bad label `{}`", f[2]))?
        };
        let style = style_names
            .iter()
            .position(|s| s == f[3])
            .with_context(|| format!("{what} line {lineno}: unknown style `{}`", f[3]))? as u16;
        let noise: NoiseKind = f[4].parse().with_context(|| format!("{what} line {lineno}"))?;
        ds.key.push(f[0].to_string());
        ds.concept.push(concept);
        ds.label.push(label);
        ds.style.push(style);
        ds.noise.push(noise);
        ds.captions.push(f[5].to_string());
    }
    Ok(ds)
}

/// Writes the TSV form of `ds` (captions must hold no tab or newline; the build ensures that).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub fn split_tsv(ds: &Dataset) -> String {
    let mut s = String::with_capacity(ds.len() * 80);
    s.push_str(TSV_HEADER);
    s.push('\n');
    for i in 0..ds.len() {
        let label = if ds.label[i] == u32::MAX { "-".to_string() } else { ds.label[i].to_string() };
        s.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            ds.key[i],
            ds.concept[i],
            label,
            ds.style_name(i),
            ds.noise[i],
            ds.captions[i]
        ));
    }
    s
}
