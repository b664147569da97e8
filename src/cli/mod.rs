//! The `jest-wgpu` command line (clap): info, data, train-reference, train, eval,
//! compare, select, bench, serve, web-assets, demo.
//! With `--json`, a command prints one JSON object as the last line of stdout; progress bars
//! and log lines go to stderr.

pub mod backend_choice;
pub mod bench;
pub mod compare_cmd;
pub mod select_cmd;
pub mod info;
pub mod run;
pub mod web_cmd;

use std::path::PathBuf;

use std::sync::OnceLock;

use anyhow::Result;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use backend_choice::BackendChoice;

#[derive(Parser, Debug)]
#[command(name = "jest-wgpu", version, about = "JEST (joint example selection) for image–text contrastive learning, on wgpu/WGSL or the CPU")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// GPU adapters found, the backend `auto` would choose and why, key limits
    Info {
        #[arg(long)]
        json: bool,
    },
    /// Build, inspect and preview datasets (the builtin splits or your own)
    Data {
        #[command(subcommand)]
        cmd: crate::data::cli::DataCmd,
    },
    /// Train the reference model on the curated split
    TrainReference(RunArgs),
    /// Train the learner on the pool with a selection method
    Train(TrainArgs),
    /// Held-out zero-shot accuracy and retrieval R@1/R@5 of a saved model
    Eval(EvalArgs),
    /// Matmul GFLOP/s and ms per training step, GPU and CPU side by side, and wgpu's own CPU cost
    /// of a step (its noop backend) with the step's number of dispatches
    Bench(bench::BenchArgs),
    /// The headline experiment: reference, then each method from the same init; writes a report
    Compare(CompareArgs),
    /// Curate a pool offline: joint selection with a reference (and optionally a learner)
    Select(select_cmd::SelectArgs),
    /// Serve the browser demo (web/) on 127.0.0.1
    Serve(web_cmd::ServeArgs),
    /// Build the browser demo's assets: the data slice and the shipped reference model
    WebAssets(web_cmd::WebAssetsArgs),
    /// Run the browser demo's session natively (same code as the page): steps, timings, JSON
    Demo(web_cmd::DemoArgs),
}

/// The joint sampler's and Flexi-JEST's flags, shared by `train` and `compare`.
#[derive(Args, Debug, Clone)]
pub struct SelectFlags {
    /// chunks of the joint sampler (must divide the batch)
    #[arg(long, default_value_t = crate::jest::DEFAULT_CHUNKS)]
    pub chunks: usize,
    /// score gain g
    #[arg(long, default_value_t = crate::jest::DEFAULT_SCORE_GAIN, allow_negative_numbers = true)]
    pub score_gain: f32,
    /// Flexi-JEST: image side in pixels at which the learner scores (default: half the side)
    #[arg(long)]
    pub flexi_size: Option<usize>,
    /// Flexi-JEST: share of each sub-batch trained at that low resolution
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub flexi_low_share: f64,
}

impl SelectFlags {
    /// The selection settings at filter ratio f.
    pub fn config(&self, filter_ratio: f64) -> crate::jest::SelectConfig {
        crate::jest::SelectConfig::with_flexi(filter_ratio, self.chunks, self.score_gain, self.flexi_size, self.flexi_low_share)
    }
}

#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// model and recipe preset: tiny | browser | default | large
    #[arg(long, default_value = "default")]
    pub preset: String,
    /// learner steps per method (default 600)
    #[arg(long)]
    pub steps: Option<usize>,
    /// reference training steps on the curated split (default: 2000, or --steps if larger)
    #[arg(long)]
    pub reference_steps: Option<usize>,
    /// first seed
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// number of seeds (seed, seed+1, …)
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    /// filter ratios f = 1 − b/B, comma-separated
    #[arg(long, alias = "filter-ratio", default_value = "0.8", allow_negative_numbers = true)]
    pub filter_ratios: String,
    /// methods, comma-separated, or `all`
    #[arg(long, default_value = "uniform,independent-learnability,jest,flexi-jest")]
    pub methods: String,
    #[command(flatten)]
    pub sel: SelectFlags,
    /// held-out evaluation every k steps (default: steps / 20)
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// evaluate on `test`, or on `validation` (clean pool pairs of concepts held out from the
    /// learners' pool) to choose settings without looking at the test split
    #[arg(long, value_enum, default_value_t = crate::jest::compare::EvalSplit::Test)]
    pub eval_split: crate::jest::compare::EvalSplit,
    /// override the preset's sub-batch size b (the super-batch is b / (1 − f))
    #[arg(long)]
    pub batch: Option<usize>,
    /// override the preset's peak learning rate (reference and learners)
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// report directory (default: reports/compare-<preset>)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// train every learner run again instead of reusing the finished ones in OUT/runs/
    #[arg(long)]
    pub fresh: bool,
    /// print the summary as one JSON object on the last line of stdout
    #[arg(long)]
    pub json: bool,
}

impl RunArgs {
    /// The checkpoint cadence: `--checkpoint-every` when given, else a resumed run's `stored` one.
    pub fn checkpoint_cadence(&self, stored: usize) -> usize {
        if self.checkpoint_every > 0 {
            self.checkpoint_every
        } else {
            stored
        }
    }
}

/// What every training run takes: `train-reference` has only these, `train` adds the
/// selection method's flags.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// model and recipe preset: tiny | browser | default | large
    #[arg(long, default_value = "default")]
    pub preset: String,
    /// gradient steps
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// training data: a builtin split (curated | pool) or a folder / .tar of your own
    /// (default: curated for train-reference, pool for train; with --resume: the run's data at
    /// a new place, checked against its fingerprint)
    #[arg(long)]
    pub data: Option<String>,
    /// where to write the trained weights (safetensors; default runs/<method>-<preset>-s<seed>.safetensors)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// folder for resumable checkpoints
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// write a checkpoint every k steps (needs --run-dir)
    #[arg(long, default_value_t = 0)]
    pub checkpoint_every: usize,
    /// continue the killed run in DIR from its last checkpoint
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// evaluate on the test split every k steps (0: only at the end)
    #[arg(long, default_value_t = 0)]
    pub eval_every: usize,
    /// override the preset's batch size
    #[arg(long)]
    pub batch: Option<usize>,
    /// override the preset's peak learning rate
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// print one JSON object as the last line of stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// selection method of the learner: uniform | hard-learner | easy-ref | learnability |
    /// jest | independent-learnability | flexi-jest
    #[arg(long, default_value = "uniform")]
    pub method: String,
    /// reference model (from train-reference) for the scored methods
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// filter ratio f = 1 − b/B
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    pub filter_ratio: f64,
    #[command(flatten)]
    pub sel: SelectFlags,
}

#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// a model file written by train / train-reference --out
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// evaluation data: the builtin test split or a folder / .tar of your own
    #[arg(long, default_value = "test")]
    pub data: String,
    /// print one JSON object as the last line of stdout
    #[arg(long)]
    pub json: bool,
}

/// The ids of the arguments given on the command line (not defaulted), set once by `main`.
static GIVEN: OnceLock<Vec<String>> = OnceLock::new();

/// Whether the argument `id` (its field name, e.g. "score_gain") was given on the command
/// line rather than left at its default: for notes on flags a run does not use.
pub fn given(id: &str) -> bool {
    GIVEN.get().is_some_and(|g| g.iter().any(|x| x == id))
}

/// `--data` as given on the command line (not its default) that names a builtin split while a
/// folder or file of that name is here: say which one is read.
pub fn note_if_data_shadowed(data: &str) {
    if given("data") {
        crate::data::cli::note_if_shadowed(data);
    }
}

fn given_ids(m: &ArgMatches, out: &mut Vec<String>) {
    for id in m.ids() {
        if m.try_get_raw(id.as_str()).is_ok() && m.value_source(id.as_str()) == Some(ValueSource::CommandLine) {
            out.push(id.to_string());
        }
    }
    if let Some((_, sub)) = m.subcommand() {
        given_ids(sub, out);
    }
}

/// Entry point of the binary.
pub fn main() -> Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let mut ids = vec![];
    given_ids(&matches, &mut ids);
    let _ = GIVEN.set(ids);
    match cli.cmd {
        Some(Cmd::Info { json }) => info::run(json),
        Some(Cmd::Data { cmd }) => crate::data::cli::run(cmd),
        Some(Cmd::TrainReference(a)) => run::train_reference_cmd(a),
        Some(Cmd::Train(a)) => run::train_cmd(a),
        Some(Cmd::Eval(a)) => run::eval_cmd(a),
        Some(Cmd::Bench(a)) => bench::run(a),
        Some(Cmd::Compare(a)) => compare_cmd::run(a),
        Some(Cmd::Select(a)) => select_cmd::run(a),
        Some(Cmd::Serve(a)) => web_cmd::serve(a),
        Some(Cmd::WebAssets(a)) => web_cmd::web_assets(a),
        Some(Cmd::Demo(a)) => web_cmd::demo(a),
        None => compare_cmd::default_job(),
    }
}
