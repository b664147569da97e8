//! `train-reference`, `train` and `eval`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::backend_choice;
use super::{EvalArgs, RunArgs, TrainArgs};
use crate::backend::Backend;
use crate::batch::Encoded;
use crate::config::Preset;
use crate::data::cli::load_any;
use crate::data::{load_builtin, SplitName, Tokenizer};
use crate::eval::evaluate;
use crate::jest::cache::{pool_sha256, reference_embeddings};
use crate::jest::learner::{train_learner, LearnerRun};
use crate::jest::resume::{load_learner, LearnerCheckpoints, LearnerProgress, LearnerStart};
use crate::jest::Method;
use crate::train::{checkpoint_spec, load_checkpoint, load_model, new_model, save_model, train, Progress, RunControl, RunSpec};
use crate::with_backend;

/// A fresh run's spec; `method` is "reference" or a learner method's name.
fn spec_from_args(a: &RunArgs, method: &str, tok: &Tokenizer) -> Result<RunSpec> {
    let mut preset = Preset::named(&a.preset, tok.vocab_size())?;
    if let Some(b) = a.batch {
        preset.train.batch = b;
    }
    if let Some(lr) = a.lr {
        preset.train.lr = lr;
    }
    let data = match &a.data {
        Some(d) => {
            super::note_if_data_shadowed(d);
            stored_data(d)?
        }
        None => if method == "reference" { "curated" } else { "pool" }.to_string(),
    };
    Ok(RunSpec { preset, steps: a.steps, seed: a.seed, method: method.to_string(), data })
}

/// `--data` as a run stores it: a folder or shard of the user's absolute, so --resume reads it
/// from anywhere; a builtin split by name. The run description is text, so an absolute path
/// that is not valid UTF-8 is refused here rather than stored garbled and not found later.
fn stored_data(d: &str) -> Result<String> {
    if d.parse::<SplitName>().is_ok() {
        return Ok(d.to_string());
    }
    match std::fs::canonicalize(d) {
        Ok(p) => match p.to_str() {
            Some(s) => Ok(s.to_string()),
            None => bail!("--data {d}: its full path {} is not valid UTF-8, which a run cannot record; rename the folders on that path", p.display()),
        },
        Err(_) => Ok(d.to_string()), // loading it says what is wrong
    }
}

/// A resumed run's data: `--data` where given (data that moved), else the stored one.
fn resumed_data(a: &RunArgs, spec: &mut RunSpec) -> Result<bool> {
    match a.data.as_deref().filter(|_| super::given("data")) {
        Some(d) => {
            spec.data = stored_data(d)?;
            eprintln!("note: resuming on --data {d} (checked against the run's data fingerprint)");
            Ok(true)
        }
        None => Ok(false),
    }
}

/// What an error loading the training data `data` is about; a resumed run's data may have moved
/// (`hint`: resumed without --data).
fn data_context(data: &str, hint: bool) -> String {
    match hint {
        true => format!("loading the run's training data `{data}` (if it moved, resume with --data at its new place)"),
        false => format!("loading training data `{data}`"),
    }
}

/// The file in a run folder with the SHA-256 of the run's training data (images and tokens).
const DATA_FINGERPRINT: &str = "data.sha256";

/// A fresh run takes its folder's lock (held while it trains; a resumed run took it before
/// reading its checkpoint) and records its data's fingerprint there; a resumed one continues
/// only on the same data — other data would not continue the run, and moved data (`moved`:
/// --data given) is accepted by its fingerprint.
fn check_run_data(dir: &Path, enc: &Encoded, data: &str, resumed: bool, moved: bool) -> Result<Option<crate::util::RunLock>> {
    let path = dir.join(DATA_FINGERPRINT);
    let sha = pool_sha256(enc);
    let record = || crate::util::write_atomic(&path, format!("{sha}\n").as_bytes());
    if !resumed {
        let lock = crate::train::lock_run_dir(dir)?;
        record()?;
        return Ok(Some(lock));
    }
    match std::fs::read_to_string(&path) {
        Ok(stored) if stored.trim() == sha => Ok(None),
        Ok(_) => bail!(
            "the data `{data}` is not what the run in {} trained on (other images or captions): resuming would not continue that run; point --data at the run's own data (moved data is recognised), or start a new run",
            dir.display()
        ),
        Err(_) if moved => {
            eprintln!("warning: {} records no fingerprint of its data (a run from an earlier version): --data {data} is taken as its data unchecked, and recorded", dir.display());
            record()?;
            Ok(None)
        }
        Err(_) => Ok(None), // a run from before fingerprints: nothing to compare
    }
}

/// One line of an evaluation on `what` (e.g. "held-out test split", or the data's name).
fn print_eval(what: &str, ev: &crate::eval::EvalResult) {
    let zero_shot = match ev.labelled {
        0 => "zero-shot n/a (no labelled items)".to_string(),
        _ => format!("zero-shot acc {:.3} (chance {:.3})", ev.zero_shot_acc, ev.chance_zero_shot),
    };
    eprintln!(
        "{what} ({} items): {zero_shot}  i2t R@1 {:.3}  t2i R@1 {:.3}  i2t R@5 {:.3}  t2i R@5 {:.3}  (R@1 chance {:.4})",
        ev.items, ev.i2t_r1, ev.t2i_r1, ev.i2t_r5, ev.t2i_r5, ev.chance_r1
    );
}

/// The command that resumes a run of `method` ("reference" or a learner method).
fn resume_command(method: &str) -> &'static str {
    if method == "reference" {
        "train-reference"
    } else {
        "train"
    }
}

/// Run one unscored training job (the reference, or a uniform learner) on an opened backend;
/// `reference` says which command asked. Returns the JSON summary.
fn run_training<B: Backend>(be: &B, a: &RunArgs, reference: bool, method: &str, why: &str) -> Result<serde_json::Value> {
    let tok = Tokenizer::builtin()?;
    let mut moved = false;
    let (mut model, spec, progress, run_dir) = match &a.resume {
        Some(dir) => {
            let (m, mut spec, progress) = load_checkpoint(be, dir)?;
            moved = resumed_data(a, &mut spec)?;
            if (spec.method == "reference") != reference {
                bail!("{} holds a `{}` run: resume it with `jest-wgpu {} --resume {}`", dir.display(), spec.method, resume_command(&spec.method), dir.display());
            }
            eprintln!("resuming {} at step {} of {}", dir.display(), progress.done, spec.steps);
            (m, spec, progress, Some(dir.clone()))
        }
        None => {
            let spec = spec_from_args(a, method, &tok)?;
            (new_model(be, &spec)?, spec, Progress::default(), a.run_dir.clone())
        }
    };
    let out = model_out(a, &spec, run_dir.as_deref(), None)?;
    let train_data = load_any(&spec.data, true).with_context(|| data_context(&spec.data, a.resume.is_some() && !moved))?;
    let test_data = load_builtin(SplitName::Test)?;
    let l = spec.preset.model.text_len;
    let (train_enc, test_enc) = (Encoded::new(&train_data, &tok, l), Encoded::new(&test_data, &tok, l));
    eprintln!(
        "backend: {why}\n{}: preset {} ({} parameters), {} steps of batch {} on {} ({} items), seed {}",
        spec.method,
        spec.preset.name,
        model.num_params(),
        spec.steps,
        spec.preset.train.batch,
        spec.data,
        train_data.len(),
        spec.seed
    );
    let eval_every = progress.eval_every.unwrap_or(a.eval_every);
    let checkpoint_every = a.checkpoint_cadence(progress.checkpoint_every.unwrap_or(0));
    // after every check of the outputs: a refused run leaves no run folder behind
    let _lock = run_dir.as_deref().map(|dir| check_run_data(dir, &train_enc, &spec.data, a.resume.is_some(), moved)).transpose()?;
    let ctl = RunControl { run_dir, checkpoint_every, eval_every, progress: !a.json, log: true };
    let rep = train(be, &mut model, &spec, &ctl, &train_enc, Some(&test_enc), &tok, progress)?;
    save_model(be, &model, &spec, &out)?;
    if let Some(ev) = &rep.eval {
        print_eval("held-out test split", ev);
    }
    eprintln!("{:.1} ms per step; model written to {}", rep.ms_per_step, out.display());
    Ok(json!({
        "command": if reference { "train-reference" } else { "train" },
        "backend": be.kind().as_str(),
        "adapter": be.adapter_name(),
        "preset": spec.preset.name,
        "method": spec.method,
        "seed": spec.seed,
        "steps": spec.steps,
        "batch": spec.preset.train.batch,
        "params": model.num_params(),
        "losses": rep.losses,
        "eval": rep.eval,
        "curve": rep.curve,
        "ms_per_step": rep.ms_per_step,
        "model": out,
    }))
}

/// A learner trained with a scored selection method (needs --reference), or resumed from its
/// run directory.
fn run_selection<B: Backend>(be: &B, t: &TrainArgs, why: &str) -> Result<serde_json::Value> {
    let tok = Tokenizer::builtin()?;
    let a = &t.run;
    // a resumed run keeps its stored settings; only --checkpoint-every may change them
    let mut moved = false;
    let (start, run_dir) = match &a.resume {
        Some(dir) => {
            let mut r = load_learner(be, dir, t.reference.as_deref())?;
            moved = resumed_data(a, &mut r.spec)?;
            eprintln!("resuming {} at step {} of {} (its stored method, selection settings, reference and cadence)", dir.display(), r.progress.done, r.spec.steps);
            (r, Some(dir.clone()))
        }
        None => {
            let spec = spec_from_args(a, Method::parse(&t.method)?.name(), &tok)?;
            let model = new_model(be, &spec)?;
            // stored absolute, so `--resume` works from any folder
            let reference = t.reference.as_deref().map(|r| std::fs::canonicalize(r).with_context(|| format!("cannot read reference checkpoint {}", r.display()))).transpose()?;
            let select = t.sel.config(t.filter_ratio);
            let fresh = LearnerStart { model, spec, select, reference, eval_every: a.eval_every, checkpoint_every: a.checkpoint_every, progress: LearnerProgress::default() };
            (fresh, a.run_dir.clone())
        }
    };
    let LearnerStart { mut model, spec, select, reference, eval_every, checkpoint_every, progress: start } = start;
    let out = model_out(a, &spec, run_dir.as_deref(), reference.as_deref())?;
    let checkpoint_every = a.checkpoint_cadence(checkpoint_every);
    let method = Method::parse(&spec.method)?;
    // the sizes, before the pool is embedded (Stepper::new checks again, for the demo)
    let (bsz, _) = crate::jest::step::Stepper::check_sizes(be, &spec.preset, method, &select)?;
    let pool = load_any(&spec.data, true).with_context(|| data_context(&spec.data, a.resume.is_some() && !moved))?;
    let test = load_builtin(SplitName::Test)?;
    let l = spec.preset.model.text_len;
    let (pool_e, test_e) = (Encoded::new(&pool, &tok, l), Encoded::new(&test, &tok, l));
    // before the pool is embedded with the reference (and its cache rewritten)
    let _lock = run_dir.as_deref().map(|dir| check_run_data(dir, &pool_e, &spec.data, a.resume.is_some(), moved)).transpose()?;
    let (cache, reference_sha256) = match (&reference, method.needs_reference()) {
        (Some(r), _) => {
            let (cache, sha) = reference_embeddings(be, r, &spec.preset, &pool_e, &spec.data)?;
            (Some(std::rc::Rc::new(cache)), Some(sha))
        }
        (None, true) => bail!("--method {} needs --reference FILE (a model from `jest-wgpu train-reference --out FILE`)", method.name()),
        (None, false) => (None, None),
    };
    eprintln!(
        "backend: {why}\n{}: preset {}, {} steps, b {} of B {bsz} (f {}), {} chunks, gain {}, seed {}",
        method.name(), spec.preset.name, spec.steps, spec.preset.train.batch, select.filter_ratio, select.chunks, select.score_gain, spec.seed
    );
    let reference_key = reference.as_deref().zip(reference_sha256.as_deref());
    let checkpoints = run_dir.as_deref().map(|dir| LearnerCheckpoints { dir, every: checkpoint_every, select: &select, reference: reference_key, eval_every });
    let run = LearnerRun {
        spec: &spec, method, select: &select, pool: &pool_e, test: &test_e, tok: &tok, reference: cache,
        eval_every, progress: !a.json, log: true, checkpoints,
    };
    let r = train_learner(be, &mut model, &run, start)?;
    save_model(be, &model, &spec, &out)?;
    eprintln!(
        "R@1 i2t {:.3} t2i {:.3}; selected clean {:.1}%; {:.1} ms/step; model written to {}",
        r.final_.i2t_r1, r.final_.t2i_r1, 100.0 * r.selected_noise_share.get("clean").copied().unwrap_or(0.0), r.ms_per_step, out.display()
    );
    let f = &r.final_;
    Ok(json!({
        "command": "train", "backend": be.kind().as_str(), "adapter": be.adapter_name(), "preset": spec.preset.name,
        "method": spec.method, "seed": spec.seed, "steps": spec.steps, "batch": spec.preset.train.batch, "super_batch": bsz,
        "filter_ratio": select.filter_ratio, "chunks": select.chunks, "score_gain": select.score_gain, "losses": r.losses,
        "eval": { "zero_shot_acc": f.zero_shot_acc, "i2t_r1": f.i2t_r1, "t2i_r1": f.t2i_r1, "i2t_r5": f.i2t_r5, "t2i_r5": f.t2i_r5 },
        "curve": r.curve, "ms_per_step": r.ms_per_step, "flops_per_step": r.flops_per_step,
        "selected_noise_share": r.selected_noise_share, "selection": r.selection, "model": out,
    }))
}

/// Where the trained model goes (`--out`, else runs/<method>-<preset>-s<seed>.safetensors),
/// checked before any training: writable, and not the reference the run scores with.
fn model_out(a: &RunArgs, spec: &RunSpec, run_dir: Option<&std::path::Path>, reference: Option<&std::path::Path>) -> Result<PathBuf> {
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/{}-{}-s{}.safetensors", spec.method, spec.preset.name, spec.seed)));
    crate::util::check_output_file(&out).context("--out")?;
    crate::data::cli::check_not_input(&[&out], &spec.data, "--out")?;
    let same = |p: &std::path::Path| crate::util::same_place(p, &out);
    if reference.is_some_and(same) {
        bail!("--out {} is the reference this run scores with: writing the learner there would replace the reference; choose another --out", out.display());
    }
    if run_dir.is_some_and(|d| same(&d.join(crate::train::CHECKPOINT_FILE))) {
        bail!("--out {} is the run's own checkpoint: the final model would replace it; choose another --out", out.display());
    }
    Ok(out)
}

/// A fresh run's --run-dir: writable, and not holding another run's checkpoint (that one is
/// continued with --resume, never overwritten).
fn check_fresh_run_dir(dir: &std::path::Path) -> Result<()> {
    crate::util::check_output_dir(dir).context("--run-dir")?;
    if dir.join(crate::train::CHECKPOINT_FILE).exists() {
        let what = match checkpoint_spec(dir) {
            Ok(spec) => format!("a checkpoint of a `{}` run ({} steps, seed {})", spec.method, spec.steps, spec.seed),
            Err(_) => "an unreadable checkpoint".to_string(),
        };
        bail!("--run-dir {} already holds {what}: continue it with --resume {}, or give a new run another --run-dir", dir.display(), dir.display());
    }
    Ok(())
}

/// `jest-wgpu train-reference`.
pub fn train_reference_cmd(a: RunArgs) -> Result<()> {
    run_cmd(&a, None)
}

/// `jest-wgpu train`.
pub fn train_cmd(a: TrainArgs) -> Result<()> {
    run_cmd(&a.run, Some(&a))
}

fn run_cmd(a: &RunArgs, train: Option<&TrainArgs>) -> Result<()> {
    if a.checkpoint_every > 0 && a.run_dir.is_none() && a.resume.is_none() {
        bail!("--checkpoint-every needs --run-dir DIR (where the checkpoints go)");
    }
    match (&a.run_dir, &a.resume) {
        (_, Some(dir)) => {
            if dir.exists() && !dir.is_dir() {
                bail!("--resume {} is a file: --resume takes the folder given as --run-dir to the run it continues", dir.display());
            }
            crate::util::check_output_dir(dir).context("--resume")?;
        }
        (Some(dir), None) => check_fresh_run_dir(dir)?,
        (None, None) => {}
    }
    // a resumed run's folder is locked before its checkpoint is read, and held to the end; only
    // then are half-written checkpoints cleared (a live run's would be its own)
    let _resume_lock = match &a.resume {
        Some(dir) if dir.is_dir() => Some(crate::train::lock_run_dir(dir)?),
        _ => None,
    };
    // a resumed run is what its checkpoint says it is, whatever --method says
    let method = match (&a.resume, train) {
        (_, None) => "reference".to_string(),
        (Some(dir), Some(_)) => checkpoint_spec(dir)?.method,
        (None, Some(t)) => Method::parse(&t.method)?.name().to_string(),
    };
    match (train, &a.resume) {
        (Some(t), None) => {
            if let (Some(r), true) = (t.reference.as_deref(), method == Method::Uniform.name()) {
                eprintln!("note: --method uniform scores nothing, so --reference {} is not used", r.display());
            }
            let selection = [("filter_ratio", "--filter-ratio"), ("chunks", "--chunks"), ("score_gain", "--score-gain")];
            let unused: Vec<&str> = selection.into_iter().filter(|(id, _)| super::given(id)).map(|(_, flag)| flag).collect();
            if method == Method::Uniform.name() && !unused.is_empty() {
                eprintln!("note: --method uniform trains on every example it draws, so {} not used", unused.join(", "));
            }
            if super::given("flexi_low_share") && method != Method::FlexiJest.name() {
                eprintln!("note: --flexi-low-share only applies to --method flexi-jest");
            }
            if t.sel.flexi_size.is_some() && method != Method::FlexiJest.name() {
                eprintln!("note: --flexi-size only applies to --method flexi-jest; --method {method} scores at full resolution");
            }
        }
        (_, Some(_)) => {
            let stored = [
                ("batch", "--batch"), ("lr", "--lr"), ("steps", "--steps"), ("seed", "--seed"), ("preset", "--preset"),
                ("eval_every", "--eval-every"), ("method", "--method"), ("filter_ratio", "--filter-ratio"), ("chunks", "--chunks"),
                ("score_gain", "--score-gain"), ("flexi_size", "--flexi-size"), ("flexi_low_share", "--flexi-low-share"),
            ];
            let ignored: Vec<&str> = stored.into_iter().filter(|(id, _)| super::given(id)).map(|(_, flag)| flag).collect();
            if !ignored.is_empty() {
                eprintln!("note: a resumed run keeps its stored settings; {} ignored", ignored.join(", "));
            }
        }
        (None, None) => {}
    }
    if a.data.as_deref() == Some("test") && a.resume.is_none() {
        eprintln!("warning: training on the test split, which every evaluation also uses: its R@1 then measures memorisation, not generalisation");
    }
    let (chosen, why) = backend_choice::open(a.backend)?;
    let v = match train {
        Some(t) if method != "reference" && method != Method::Uniform.name() => with_backend!(chosen, |be| run_selection(&be, t, &why))?,
        _ => with_backend!(chosen, |be| run_training(&be, a, train.is_none(), &method, &why))?,
    };
    if a.json {
        println!("{v}");
    }
    Ok(())
}

fn run_eval<B: Backend>(be: &B, a: &EvalArgs) -> Result<serde_json::Value> {
    let tok = Tokenizer::builtin()?;
    let (mut model, spec) = load_model(be, &a.model)?;
    super::note_if_data_shadowed(&a.data);
    let data = load_any(&a.data, true)?;
    let enc = Encoded::new(&data, &tok, spec.preset.model.text_len);
    let ev = evaluate(be, &mut model, &enc, &tok)?;
    let what = if a.data == "test" { "held-out test split".to_string() } else { data.name.clone() };
    print_eval(&what, &ev);
    let mut eval = serde_json::to_value(&ev)?;
    if ev.labelled == 0 {
        eval["zero_shot_acc"] = serde_json::Value::Null; // no labels: no zero-shot accuracy
    }
    Ok(json!({
        "command": "eval",
        "backend": be.kind().as_str(),
        "adapter": be.adapter_name(),
        "model": a.model,
        "preset": spec.preset.name,
        "seed": spec.seed,
        "steps": spec.steps,
        "method": spec.method,
        "eval": eval,
    }))
}

pub fn eval_cmd(a: EvalArgs) -> Result<()> {
    let (chosen, why) = backend_choice::open(a.backend)?;
    eprintln!("backend: {why}");
    let v = with_backend!(chosen, |be| run_eval(&be, &a))?;
    if a.json {
        println!("{v}");
    }
    Ok(())
}
