//! `jest-wgpu data …`: build the builtin data, inspect a split, write a contact sheet.

use super::build::{build_dataset, BuildOptions, DEFAULT_SEED};
use super::preview::write_contact_sheet;
use super::user::{input_files, load_user_with, LoadOptions};
use super::{load_builtin, Dataset, NoiseKind, SplitMix64, SplitName, Tokenizer, BUILTIN_IMAGE_SIZE};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum DataCmd {
    /// Build data/ from the unpacked pinned packages (see scripts/fetch-data-sources.sh).
    Build {
        /// Folder made by scripts/fetch-data-sources.sh.
        #[arg(long)]
        sources: PathBuf,
        /// Output folder.
        #[arg(long, default_value = "data")]
        out: PathBuf,
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
    },
    /// Counts, noise-kind shares and sample captions of a split (all builtin splits by default).
    Info {
        /// curated, pool, test, or a path to your data (folder, captions file, .tar shard).
        #[arg(long)]
        split: Option<String>,
        /// Skip unusable items of user data (reported) instead of failing.
        #[arg(long)]
        skip_bad: bool,
        /// Sample captions shown.
        #[arg(long, default_value_t = 5)]
        samples: usize,
    },
    /// Write a contact sheet (thumbnails + captions + noise kind) as PNG.
    Preview {
        /// curated, pool, test, or a path to your data.
        #[arg(long)]
        split: String,
        /// Output PNG file.
        #[arg(long)]
        out: PathBuf,
        /// Number of items (sampled with --seed).
        #[arg(long, default_value_t = 48)]
        count: usize,
        /// Images per row of the sheet.
        #[arg(long, default_value_t = 8)]
        columns: usize,
        /// Only items of this noise kind (clean, mismatched, blank, generic, boilerplate, near_duplicate, slug).
        #[arg(long)]
        noise: Option<String>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        skip_bad: bool,
    },
}

/// Loads a builtin split or the user's data at the builtin image size, printing skipped items.
pub fn load_any(spec: &str, skip_bad: bool) -> Result<Dataset> {
    if let Ok(split) = spec.parse::<SplitName>() {
        return load_builtin(split);
    }
    let (ds, report) = load_user_with(std::path::Path::new(spec), BUILTIN_IMAGE_SIZE, &LoadOptions { skip_bad })?;
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    if !report.skipped.is_empty() {
        eprintln!("skipped {} bad items of {spec}:", report.skipped.len());
        for s in report.skipped.iter().take(20) {
            eprintln!("  {s}");
        }
    }
    Ok(ds)
}

/// When the user named a builtin split (`--data pool`) and a folder or file of that name is
/// here: say which one is read.
pub fn note_if_shadowed(spec: &str) {
    if spec.parse::<SplitName>().is_ok() && Path::new(spec).exists() {
        eprintln!("note: `{spec}` is the builtin {spec} split; for the folder or file of that name, write ./{spec}");
    }
}

/// Refuse any of the outputs `outs` (given as `flag`) that is one of the files the data `spec`
/// is read from — its captions file, an image it lists, a shard — so a command never overwrites
/// its own input. Only an existing file can be one; builtin splits have none on disk. The data's
/// files are listed once, whatever the number of outputs.
pub fn check_not_input(outs: &[&Path], spec: &str, flag: &str) -> Result<()> {
    if spec.parse::<SplitName>().is_ok() {
        return Ok(());
    }
    let existing: Vec<(&Path, PathBuf)> = outs.iter().filter_map(|o| std::fs::canonicalize(o).ok().map(|r| (*o, r))).collect();
    if existing.is_empty() {
        return Ok(());
    }
    let inputs: std::collections::HashSet<PathBuf> = input_files(Path::new(spec)).iter().filter_map(|f| std::fs::canonicalize(f).ok()).collect();
    if let Some((out, _)) = existing.iter().find(|(_, real)| inputs.contains(real)) {
        anyhow::bail!("{flag} {} is a file of the data `{spec}` that this command reads: writing there would replace it; choose another {flag}", out.display());
    }
    Ok(())
}

/// A text summary of a dataset: counts, noise shares, styles, samples.
pub fn describe(ds: &Dataset, samples: usize) -> String {
    let n = ds.len().max(1) as f64;
    let mut s = format!("{}: {} items, {}×{} RGB", ds.name, ds.len(), ds.image_size, ds.image_size);
    let concepts: std::collections::BTreeSet<u32> = ds.concept.iter().copied().collect();
    let labelled = ds.label.iter().filter(|&&l| l != u32::MAX).count();
    s += &format!(", {} concepts, {labelled} with zero-shot labels ({} classes)\n", concepts.len(), ds.class_names.len());
    s += "  noise:";
    for (k, c) in NoiseKind::ALL.iter().zip(ds.noise_counts()) {
        if c > 0 {
            s += &format!(" {k} {c} ({:.1}%)", c as f64 / n * 100.0);
        }
    }
    s += "\n  styles:";
    for (si, name) in ds.style_names.iter().enumerate() {
        let c = ds.style.iter().filter(|&&x| x as usize == si).count();
        if c > 0 {
            s += &format!(" {name} {c}");
        }
    }
    s.push('\n');
    let mut rng = SplitMix64::new(7);
    for _ in 0..samples.min(ds.len()) {
        let i = rng.below(ds.len());
        s += &format!("  [{}] {} ({}): {}\n", i, ds.key[i], ds.noise[i], ds.captions[i]);
    }
    s
}

/// The most items `data preview` draws on one sheet.
const MAX_PREVIEW: usize = 2000;

pub fn run(cmd: DataCmd) -> Result<()> {
    match cmd {
        DataCmd::Build { sources, out, seed } => {
            let opts = BuildOptions { sources, out: out.clone(), seed, progress: true };
            let sum = build_dataset(&opts)?;
            println!(
                "built {} in {:.1} s: {} bytes; {}; pool noise {:?}; {} render failures",
                out.display(),
                sum.seconds,
                sum.total_bytes,
                sum.counts.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
                sum.pool_noise,
                sum.render_failures
            );
            println!("rebuild the crate to embed the new data");
            Ok(())
        }
        DataCmd::Info { split, skip_bad, samples } => {
            let split_given = split.is_some();
            let specs: Vec<String> = match split {
                Some(s) => vec![s],
                None => SplitName::ALL.iter().map(|s| s.to_string()).collect(),
            };
            for spec in specs {
                if split_given {
                    note_if_shadowed(&spec);
                }
                let ds = load_any(&spec, skip_bad)?;
                print!("{}", describe(&ds, samples));
            }
            let tok = Tokenizer::builtin()?;
            println!("tokenizer: {} ids (pad 0, bos 1, eos 2, 256 bytes, {} words)", tok.vocab_size(), tok.words().len());
            Ok(())
        }
        DataCmd::Preview { split, out, count, columns, noise, seed, skip_bad } => {
            anyhow::ensure!(count > 0 && columns > 0, "--count and --columns must be at least 1 (got {count} and {columns})");
            anyhow::ensure!(count <= MAX_PREVIEW, "--count {count}: a contact sheet shows at most {MAX_PREVIEW} items (each cell is about 100×100 pixels); lower --count");
            let png = out.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
            anyhow::ensure!(png, "--out {}: the contact sheet is a PNG image; give a file name ending in .png", out.display());
            crate::util::check_output_file(&out).context("--out")?;
            check_not_input(&[&out], &split, "--out")?;
            note_if_shadowed(&split);
            let ds = load_any(&split, skip_bad)?;
            let want: Option<NoiseKind> = noise.as_deref().map(str::parse).transpose()?;
            let mut idx: Vec<usize> = (0..ds.len()).filter(|&i| want.is_none_or(|k| ds.noise[i] == k)).collect();
            anyhow::ensure!(!idx.is_empty(), "{} has no items of noise kind {}", ds.name, noise.unwrap_or_default());
            if idx.len() < count {
                eprintln!("note: {} has {} items{}, fewer than --count {count}: the sheet shows them all", ds.name, idx.len(), want.map(|k| format!(" of noise kind {k}")).unwrap_or_default());
            }
            SplitMix64::new(seed).shuffle(&mut idx);
            idx.truncate(count);
            write_contact_sheet(&ds, &idx, columns, &out).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {} ({} items of {})", out.display(), idx.len(), ds.name);
            Ok(())
        }
    }
}
