//! A demo session: a learner that selects with the chosen method and a uniform learner, from
//! the same init, stepped together on the same super-batches; every step reports what the
//! page draws (the super-batch, the chosen chunks, the B×B matrices, losses, noise, FLOPs,
//! timings). Only non-blocking read-backs, so it runs unchanged in a browser tab.

use std::collections::BTreeMap;
use std::rc::Rc;

use anyhow::{bail, Result};
use serde::Serialize;

use super::{DemoData, DemoSettings, SCHEDULE_STEPS};
use crate::backend::{Backend, ScoreMode};
use crate::batch::{step_indices, Encoded};
use crate::data::NoiseKind;
use crate::eval::{embed_all_async, retrieval};
use crate::jest::cache::RefCache;
use crate::jest::flops::step_flops;
use crate::jest::learner::noise_shares;
use crate::jest::method::Method;
use crate::jest::step::Stepper;
use crate::model::DualEncoder;
use crate::train::{adam_hp, load_model_bytes, RunSpec};

/// Milliseconds from a monotonic clock (performance.now() in the browser).
pub fn now_ms() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        web_sys::window().and_then(|w| w.performance()).map(|p| p.now()).unwrap_or_else(js_sys::Date::now)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1e3
    }
}

/// One learner of the pair and what it has selected so far.
struct Learner<B: Backend> {
    model: DualEncoder<B>,
    stepper: Stepper<B>,
    flops_per_step: f64,
    noise: [usize; NoiseKind::ALL.len()],
}

/// Held-out retrieval of one learner.
#[derive(Clone, Debug, Serialize)]
pub struct Recall {
    /// (i2t + t2i) / 2
    pub r1: f64,
    pub i2t_r1: f64,
    pub t2i_r1: f64,
    pub r5: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Pair<T> {
    pub learner: T,
    pub uniform: T,
}

#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub step: usize,
    pub learner: Recall,
    pub uniform: Recall,
    pub flops: Pair<f64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    pub score: f64,
    pub sample: f64,
    pub train: f64,
    pub uniform_train: f64,
    /// the whole step, read-backs for the page included
    pub step: f64,
}

/// What one step did (the page's JSON).
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    pub step: usize,
    /// the B pool indices offered
    pub super_batch: Vec<usize>,
    /// positions into `super_batch`, in chunk order (the first m are chunk 1, …)
    pub selected: Vec<usize>,
    pub chunk_size: usize,
    pub chunks: usize,
    /// mean learnability over the selected-so-far set after each chunk (empty without a reference)
    pub chunk_learnability: Vec<f64>,
    /// mean learnability over the whole super-batch (null without a reference)
    pub superbatch_learnability: Option<f64>,
    pub loss: Pair<f32>,
    /// cumulative share of the selected examples by noise kind
    pub noise_share: Pair<BTreeMap<String, f64>>,
    /// cumulative FLOPs (the selecting learner's include its scoring)
    pub flops: Pair<f64>,
    pub timings_ms: Timings,
    pub eval: Option<EvalReport>,
}

/// The two learners, the frozen reference's view of the pool, and the last step's matrices.
pub struct Session<B: Backend> {
    pub be: B,
    pub data: Rc<DemoData>,
    pub settings: DemoSettings,
    pub method: Method,
    spec: RunSpec,
    learner: Learner<B>,
    uniform: Learner<B>,
    pub reference: Option<Rc<RefCache>>,
    step: usize,
    /// the learnability (gain 1), the learner's per-pair loss, −(reference's per-pair loss) [B, B]
    mats: [B::Buf; 3],
    /// last step's matrices, read back: learnability, learner loss, reference loss
    pub last: [Vec<f32>; 3],
    fence: B::Buf,
    pub initial_eval: Option<EvalReport>,
}

/// The reference model's embeddings of the pool, from a checkpoint's bytes.
pub async fn reference_cache<B: Backend>(be: &B, data: &DemoData, bytes: &[u8], learner: &crate::config::ModelConfig) -> Result<RefCache> {
    let (mut model, spec) = load_model_bytes(be, bytes, "the reference checkpoint")?;
    if &spec.preset.model != learner {
        bail!("the reference checkpoint is a `{}` model of another architecture than the demo's `{}` learner: train a reference with the browser preset", spec.preset.name, super::PRESET);
    }
    let (u, v) = embed_all_async(be, &mut model, &data.pool).await?;
    let tb = be.read_async(&model.params.get(model.t_bias).value).await?;
    Ok(RefCache { u, v, d: spec.preset.model.embed_dim, t_bias: [tb[0], tb[1]], n: data.pool.len() })
}

impl<B: Backend> Session<B> {
    /// Both learners from the same init; the reference (if any) embeds the pool once here.
    pub async fn new(be: B, data: Rc<DemoData>, reference: Option<&[u8]>, settings: DemoSettings) -> Result<Session<B>> {
        settings.validate()?;
        let method = settings.method()?;
        let preset = settings.preset(data.tok.vocab_size())?;
        let reference = match reference {
            Some(bytes) => Some(Rc::new(reference_cache(&be, &data, bytes, &preset.model).await?)),
            None if method.needs_reference() => bail!("method {} needs a reference model: load the shipped one or train one here", method.name()),
            None => None,
        };
        let spec = RunSpec { preset, steps: SCHEDULE_STEPS, seed: settings.seed, method: method.name().into(), data: "demo/pool".into() };
        let select = settings.select();
        let make = |m: Method| -> Result<Learner<B>> {
            let mut model = DualEncoder::new(&be, &spec.preset.model, spec.seed as u32, spec.preset.train.batch);
            let stepper = Stepper::new(&be, &mut model, &spec.preset, m, &select, data.pool.len(), reference.clone(), spec.seed)?;
            let flops_per_step = step_flops(&spec.preset.model, stepper.b, stepper.bsz, m, (model.image.low_size, stepper.n_low)).total;
            Ok(Learner { model, stepper, flops_per_step, noise: [0; NoiseKind::ALL.len()] })
        };
        let learner = make(method)?;
        let uniform = make(Method::Uniform)?;
        let bsz = learner.stepper.bsz;
        let mats = [be.zeros(bsz * bsz), be.zeros(bsz * bsz), be.zeros(bsz * bsz)];
        let fence = be.zeros(1);
        let mut s = Session { be, data, settings, method, spec, learner, uniform, reference, step: 0, mats, last: Default::default(), fence, initial_eval: None };
        s.initial_eval = Some(s.evaluate().await?);
        Ok(s)
    }

    pub fn super_batch(&self) -> usize {
        self.learner.stepper.bsz
    }

    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// Wait until the device has finished the queued work (a 1-word read-back).
    async fn fence(&self) -> Result<()> {
        self.be.read_async(&self.fence).await.map(|_| ())
    }

    /// One step of both learners.
    pub async fn step(&mut self) -> Result<StepReport> {
        let be = &self.be;
        let pool = &self.data.pool;
        let (b, bsz) = (self.learner.stepper.b, self.learner.stepper.bsz);
        let step = self.step;
        let sup = step_indices(pool.len(), bsz, self.spec.seed, step as u64);
        let hp = adam_hp(&self.spec, step);
        let t0 = now_ms();
        // ---- the selecting learner: score, select, (matrices for the page), train
        let l = &mut self.learner;
        l.stepper.score(be, &mut l.model, pool, &sup);
        self.fence().await?;
        let t1 = now_ms();
        let l = &mut self.learner;
        l.stepper.choose(be, &mut l.model, pool, &sup, step);
        self.fence().await?;
        let t2 = now_ms();
        page_matrices(be, &mut self.learner, &self.mats, self.method, pool, &sup);
        self.fence().await?; // the page's matrices are not the step's: keep their GPU time out of `train`
        let t2b = now_ms();
        let l = &mut self.learner;
        l.stepper.train(be, &mut l.model, &hp);
        self.fence().await?;
        let t3 = now_ms();
        // ---- the uniform learner on the first b of the same super-batch
        let u = &mut self.uniform;
        u.stepper.choose(be, &mut u.model, pool, &sup, step);
        u.stepper.train(be, &mut u.model, &hp);
        self.fence().await?;
        let t4 = now_ms();
        // ---- read back what the page shows
        let selected: Vec<usize> = be.read_u32_async(&self.learner.stepper.idx).await?.into_iter().map(|i| i as usize).collect();
        let loss_l = be.read_async(&self.learner.model.ws(b).stats).await?[0];
        let loss_u = be.read_async(&self.uniform.model.ws(b).stats).await?[0];
        for (who, loss) in [("the selecting learner", loss_l), ("the uniform learner", loss_u)] {
            if !loss.is_finite() {
                bail!("training diverged: {who}'s loss is {loss} at step {}; lower the learning rate", step + 1);
            }
        }
        let have_ref = self.reference.is_some();
        for (k, buf) in self.mats.iter().enumerate() {
            self.last[k] = if have_ref || k == 1 { be.read_async(buf).await? } else { Vec::new() };
        }
        for v in &mut self.last[2] {
            *v = -*v; // EasyRef scores −L_ref: show the loss itself
        }
        let t5 = now_ms();
        self.step += 1;
        let noise = &pool.data.noise;
        for &p in &selected {
            self.learner.noise[noise[sup[p]].index()] += 1;
        }
        for &i in &sup[..b] {
            self.uniform.noise[noise[i].index()] += 1;
        }
        let m = b / self.settings.chunks;
        let a = &self.last[0];
        let mean_over = |set: &[usize]| set.iter().flat_map(|&i| set.iter().map(move |&j| a[i * bsz + j] as f64)).sum::<f64>() / (set.len() * set.len()) as f64;
        let chunk_learnability = if a.is_empty() { Vec::new() } else { (1..=self.settings.chunks).map(|k| mean_over(&selected[..k * m])).collect() };
        let superbatch_learnability = (!a.is_empty()).then(|| a.iter().map(|&x| x as f64).sum::<f64>() / a.len() as f64);
        let eval = if self.step.is_multiple_of(self.settings.eval_every) { Some(self.evaluate().await?) } else { None };
        Ok(StepReport {
            step: self.step,
            super_batch: sup,
            selected,
            chunk_size: m,
            chunks: self.settings.chunks,
            chunk_learnability,
            superbatch_learnability,
            loss: Pair { learner: loss_l, uniform: loss_u },
            noise_share: Pair { learner: noise_shares(&self.learner.noise), uniform: noise_shares(&self.uniform.noise) },
            flops: self.flops(),
            timings_ms: Timings { score: t1 - t0, sample: t2 - t1, train: t3 - t2b, uniform_train: t4 - t3, step: (t5 - t0) - (t2b - t2) },
            eval,
        })
    }

    fn flops(&self) -> Pair<f64> {
        Pair { learner: self.step as f64 * self.learner.flops_per_step, uniform: self.step as f64 * self.uniform.flops_per_step }
    }

    /// Held-out R@1/R@5 of both learners on the test slice.
    pub async fn evaluate(&mut self) -> Result<EvalReport> {
        let mut out = Vec::new();
        for l in [&mut self.learner, &mut self.uniform] {
            let (u, v) = embed_all_async(&self.be, &mut l.model, &self.data.test).await?;
            if u.iter().chain(&v).any(|x| !x.is_finite()) {
                bail!("a learner produced non-finite embeddings: training diverged; lower the learning rate");
            }
            let r = retrieval(&u, &v, l.model.cfg.embed_dim, &self.data.test.data.concept);
            out.push(Recall { r1: (r.i2t_r1 + r.t2i_r1) / 2.0, i2t_r1: r.i2t_r1, t2i_r1: r.t2i_r1, r5: (r.i2t_r5 + r.t2i_r5) / 2.0 });
        }
        let uniform = out.pop().unwrap();
        let learner = out.pop().unwrap();
        Ok(EvalReport { step: self.step, learner, uniform, flops: self.flops() })
    }
}

/// The learnability, learner-loss and reference-loss matrices of this step's super-batch,
/// with the learner as it was when it chose (full resolution). Not counted in the timings.
fn page_matrices<B: Backend>(be: &B, l: &mut Learner<B>, mats: &[B::Buf; 3], method: Method, pool: &Encoded, sup: &[usize]) {
    if method.score_mode().is_none() {
        l.stepper.embed_super_batch(be, &mut l.model, pool, sup, false); // uniform scored nothing
    }
    l.stepper.embed_full_res(be, &mut l.model, pool, sup);
    let modes = [ScoreMode::Learnability, ScoreMode::HardLearner, ScoreMode::EasyRef];
    for (buf, mode) in mats.iter().zip(modes) {
        l.stepper.score_into(be, &l.model, buf, mode, 1.0, false);
    }
}
