//! `jest-wgpu select`: curate a pool offline and export what was chosen (CSV, JSONL, contact
//! sheet, summary).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use super::backend_choice::{self, BackendChoice};
use crate::data::cli::load_any;
use crate::data::{contact_sheet, NoiseKind, Tokenizer};
use crate::jest::curate::{curate, CurateOptions, Kept};
use crate::util::write_atomic;
use crate::with_backend;

#[derive(Args, Debug, Clone)]
pub struct SelectArgs {
    /// reference model (from train-reference)
    #[arg(long)]
    pub reference: PathBuf,
    /// the pool to curate: a builtin split or a folder / .tar of your own
    #[arg(long, default_value = "pool")]
    pub data: String,
    /// fraction of each super-batch to keep (1 − f)
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    pub keep: f64,
    /// a learner checkpoint: score by learnability instead of the reference alone (easy-ref)
    #[arg(long)]
    pub learner: Option<PathBuf>,
    /// examples scored together; the joint sampler keeps `keep` of each super-batch
    #[arg(long, default_value_t = 320)]
    pub super_batch: usize,
    /// chunks of the joint sampler (the kept count per super-batch is rounded down to a multiple)
    #[arg(long, default_value_t = crate::jest::DEFAULT_CHUNKS)]
    pub chunks: usize,
    /// score gain g (higher: closer to greedy top-k of the conditional scores)
    #[arg(long, default_value_t = crate::jest::DEFAULT_SCORE_GAIN, allow_negative_numbers = true)]
    pub score_gain: f32,
    /// seed of the super-batch order and the sampler's Gumbel noise
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// output folder
    #[arg(long)]
    pub out: PathBuf,
    /// print summary.json as one JSON object on the last line of stdout
    #[arg(long)]
    pub json: bool,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn to_csv(kept: &[Kept]) -> String {
    let mut out = String::from("index,key,super_batch,chunk,rank,score,joint_score,noise,caption\n");
    for k in kept {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            k.index,
            csv_field(&k.key),
            k.super_batch,
            k.chunk,
            k.rank,
            k.score,
            k.joint_score,
            k.noise,
            csv_field(&k.caption)
        );
    }
    out
}

pub fn run(a: SelectArgs) -> Result<()> {
    crate::util::check_output_dir(&a.out).context("--out")?;
    let files = ["selected.csv", "selected.jsonl", "contact_sheet.png", "summary.json"]
        .map(|f| crate::util::output_file(&a.out.join(f)).context("--out"))
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    crate::data::cli::check_not_input(&files.iter().map(|f| f.as_path()).collect::<Vec<_>>(), &a.data, "--out")?;
    let (chosen, why) = backend_choice::open(a.backend)?;
    eprintln!("backend: {why}");
    let tok = Tokenizer::builtin()?;
    super::note_if_data_shadowed(&a.data);
    let data = load_any(&a.data, true)?;
    let o = CurateOptions {
        reference: &a.reference,
        learner: a.learner.as_deref(),
        keep: a.keep,
        super_batch: a.super_batch,
        chunks: a.chunks,
        score_gain: a.score_gain,
        seed: a.seed,
    };
    let bsz = a.super_batch.min(data.len());
    if a.super_batch > data.len() {
        eprintln!("note: --super-batch {} exceeds the {} items: they are scored as one super-batch", a.super_batch, data.len());
    }
    if bsz > 0 && data.len() % bsz > 0 {
        eprintln!("note: the {} items after the last whole super-batch of {bsz} (in the order --seed shuffles) are not scored", data.len() % bsz);
    }
    let per = crate::jest::curate::kept_per_super_batch(bsz, a.keep, a.chunks);
    if bsz > 0 && per > 0 && a.chunks > 0 && (per as f64 / bsz as f64 - a.keep).abs() > 0.5 / bsz as f64 {
        eprintln!(
            "note: keeping {per} of each super-batch of {bsz} ({:.3}, not --keep {}): the kept count is rounded down to a multiple of --chunks {}",
            per as f64 / bsz as f64, a.keep, a.chunks
        );
    }
    let kept = with_backend!(chosen, |be| curate(&be, &data, &tok, &o))?;
    write_atomic(&a.out.join("selected.csv"), to_csv(&kept).as_bytes())?;
    let jsonl: String = kept.iter().map(|k| serde_json::to_string(k).map(|s| s + "\n")).collect::<Result<_, _>>()?;
    write_atomic(&a.out.join("selected.jsonl"), jsonl.as_bytes())?;
    let show: Vec<usize> = kept.iter().take(48).map(|k| k.index).collect();
    let title = format!("{}: the first {} of {} kept of {} items", data.name, show.len(), kept.len(), data.len());
    write_atomic(&a.out.join("contact_sheet.png"), &contact_sheet(&data, &show, 8, &title)?)?;
    let mut counts = [0usize; NoiseKind::ALL.len()];
    for k in &kept {
        counts[k.noise.parse::<NoiseKind>().map(|n| n.index()).unwrap_or(0)] += 1;
    }
    let pool_counts = data.noise_counts();
    let share = |c: &[usize; NoiseKind::ALL.len()], n: usize| -> serde_json::Map<String, serde_json::Value> {
        NoiseKind::ALL.iter().map(|k| (k.as_str().to_string(), json!(c[k.index()] as f64 / n.max(1) as f64))).collect()
    };
    let summary = json!({
        "command": "select", "data": data.name, "items": data.len(), "kept": kept.len(), "keep": a.keep,
        "kept_per_super_batch": per, "kept_fraction": kept.len() as f64 / data.len().max(1) as f64,
        "score": if a.learner.is_some() { "learnability" } else { "easy-ref" },
        "reference": a.reference, "learner": a.learner, "super_batch": a.super_batch, "chunks": a.chunks,
        "score_gain": a.score_gain, "seed": a.seed, "kept_noise_share": share(&counts, kept.len()),
        "data_noise_share": share(&pool_counts, data.len()), "out": a.out,
    });
    write_atomic(&a.out.join("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    eprintln!(
        "kept {} of {} items ({:.0}% clean vs {:.0}% in the input) → {}",
        kept.len(),
        data.len(),
        100.0 * counts[NoiseKind::Clean.index()] as f64 / kept.len() as f64,
        100.0 * pool_counts[NoiseKind::Clean.index()] as f64 / data.len().max(1) as f64,
        a.out.display()
    );
    if a.json {
        println!("{summary}");
    }
    Ok(())
}
