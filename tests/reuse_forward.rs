//! JEST's training step reuses the scoring forward: the chosen rows of the super-batch's
//! activations, gathered, must give the same loss and gradients as a fresh forward of the
//! chosen examples — on the CPU twin and on the GPU. Flexi-JEST reuses the text tower of its
//! low-resolution scoring forward in its mixed-resolution training forward: the same check.
mod common;

use jest_wgpu::backend::Backend;
use jest_wgpu::config::Preset;
use jest_wgpu::cpu::CpuBackend;
use jest_wgpu::batch::Encoded;
use jest_wgpu::data::{load_builtin, Dataset, SplitName, Tokenizer};
use jest_wgpu::jest::cache::RefCache;
use jest_wgpu::jest::step::Stepper;
use jest_wgpu::jest::{Method, SelectConfig};
use jest_wgpu::train::{adam_hp, new_model, RunSpec};

/// A loss and one vector per parameter tensor (its gradient, or its value after a step).
type LossGrads = (f32, Vec<Vec<f32>>);

/// The builtin pool encoded for `preset` (loaded once per test binary), and a one-step spec
/// of `method` with `seed`.
fn fixture(preset: &str, method: &str, seed: u64) -> (RunSpec, Encoded<'static>) {
    static POOL: std::sync::OnceLock<Dataset> = std::sync::OnceLock::new();
    let data = POOL.get_or_init(|| load_builtin(SplitName::Pool).unwrap());
    let tok = Tokenizer::builtin().unwrap();
    let spec = RunSpec { preset: Preset::named(preset, tok.vocab_size()).unwrap(), steps: 1, seed, method: method.into(), data: "pool".into() };
    let enc = Encoded::new(data, &tok, spec.preset.model.text_len);
    (spec, enc)
}

/// (loss, every gradient) of the chosen examples: gathered from a forward of `big`, and fresh.
fn both<B: Backend>(be: &B, preset: &str, big: &[usize], chosen: &[u32]) -> (LossGrads, LossGrads) {
    let (spec, enc) = fixture(preset, "jest", 3);
    let (nb, b) = (big.len(), chosen.len());
    let grads = |m: &jest_wgpu::model::DualEncoder<B>| m.params.params.iter().map(|p| be.read(&p.grad).unwrap()).collect::<Vec<_>>();

    let mut m = new_model(be, &spec).unwrap();
    m.upload(be, &enc.batch(big));
    m.forward_towers(be, nb);
    m.forward_gathered(be, nb, &be.upload_u32(chosen), b);
    m.backward(be, b);
    let gathered = (be.read(&m.ws(b).stats).unwrap()[0], grads(&m));

    let mut m = new_model(be, &spec).unwrap();
    let picked: Vec<usize> = chosen.iter().map(|&i| big[i as usize]).collect();
    m.upload(be, &enc.batch(&picked));
    m.forward(be, b);
    m.backward(be, b);
    let fresh = (be.read(&m.ws(b).stats).unwrap()[0], grads(&m));
    (gathered, fresh)
}

/// Flexi-JEST at `low_px`, n_low of the chosen trained low: (loss, gradients) with the texts
/// gathered from the low-resolution scoring forward of `big`, and with a fresh text forward.
fn both_flexi<B: Backend>(be: &B, preset: &str, low_px: usize, n_low: usize, big: &[usize], chosen: &[u32]) -> (LossGrads, LossGrads) {
    let (spec, enc) = fixture(preset, "flexi-jest", 5);
    let (nb, b) = (big.len(), chosen.len());
    let picked: Vec<usize> = chosen.iter().map(|&i| big[i as usize]).collect();
    let grads = |m: &jest_wgpu::model::DualEncoder<B>| m.params.params.iter().map(|p| be.read(&p.grad).unwrap()).collect::<Vec<_>>();
    let run = |gather: bool| {
        let mut m = new_model(be, &spec).unwrap();
        m.set_low_size(low_px);
        m.upload_at(be, &enc.batch(big), true);
        m.forward_towers_at(be, nb, true);
        m.upload(be, &enc.batch(&picked));
        let idx = be.upload_u32(chosen);
        m.forward_mixed(be, b, n_low, gather.then_some((nb, &idx)));
        m.backward_mixed(be, b, n_low);
        (be.read(&m.ws(b).stats).unwrap()[0], grads(&m))
    };
    (run(true), run(false))
}

fn check(name: &str, (g, f): (LossGrads, LossGrads)) {
    let mut worst = (g.0 - f.0).abs() / f.0.abs();
    for (a, b) in g.1.iter().zip(&f.1) {
        let scale = b.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
        worst = common::nan_max(worst, a.iter().zip(b).map(|(x, y)| (x - y).abs() / scale).fold(0.0, common::nan_max));
    }
    println!("{name}: loss gathered {} fresh {}; worst diff over loss and gradients {worst:.2e} (relative to each tensor's max)", g.0, f.0);
    assert!(worst <= 1e-5, "{name}: the gathered forward differs from a fresh one by {worst:e}");
}

const BIG: [usize; 13] = [5, 900, 17, 3, 1200, 44, 61, 8, 333, 2, 700, 19, 250];
const CHOSEN: [u32; 6] = [7, 0, 12, 3, 9, 4];

#[test]
fn gathered_training_forward_equals_a_fresh_one() {
    check("cpu tiny", both(&CpuBackend::new(), "tiny", &BIG, &CHOSEN));
    check("cpu default", both(&CpuBackend::new(), "default", &BIG, &CHOSEN));
}

#[test]
fn flexi_gathered_text_forward_equals_a_fresh_one() {
    let cpu = CpuBackend::new();
    check("cpu default flexi 16 px, 2 of 6 low", both_flexi(&cpu, "default", 16, 2, &BIG, &CHOSEN));
    check("cpu default flexi 24 px, none low", both_flexi(&cpu, "default", 24, 0, &BIG, &CHOSEN));
    check("cpu tiny flexi 16 px, all low", both_flexi(&cpu, "tiny", 16, 6, &BIG, &CHOSEN));
}

#[test]
fn gpu_gathered_training_forward_equals_a_fresh_one() {
    let Some(g) = common::gpu("gpu_gathered_training_forward_equals_a_fresh_one") else { return };
    check("gpu tiny", both(&g.be, "tiny", &BIG, &CHOSEN));
    check("gpu tiny flexi 16 px, 2 of 6 low", both_flexi(&g.be, "tiny", 16, 2, &BIG, &CHOSEN));
}

/// The Stepper's own Flexi-JEST training step (text gathered from its scoring forward, in the
/// order it chose) must leave the same weights as one with a fresh text forward on the batch
/// `choose` assembled — so `train` gathers the rows `choose` put in the training batch.
#[test]
fn flexi_stepper_trains_on_the_rows_it_chose() {
    let be = CpuBackend::new();
    let (mut spec, enc) = fixture("tiny", "flexi-jest", 9);
    spec.steps = 10;
    let d = spec.preset.model.embed_dim;
    let noise = |k: usize| (0..enc.len() * d).map(|i| (((i * 2654435761 + k) % 1000) as f32 / 500.0 - 1.0) * 0.1).collect::<Vec<_>>();
    let cache = std::rc::Rc::new(RefCache { u: noise(1), v: noise(2), d, t_bias: [10f32.ln(), -4.0], n: enc.len() });
    let select = SelectConfig { flexi_size: Some(16), flexi_low_share: 0.5, ..SelectConfig::new(0.8, 8, 100.0) };
    let method = Method::parse("flexi-jest").unwrap();
    let step = |gather: bool| {
        let mut m = new_model(&be, &spec).unwrap();
        let st = Stepper::new(&be, &mut m, &spec.preset, method, &select, enc.len(), Some(cache.clone()), spec.seed).unwrap();
        let sup: Vec<usize> = (0..st.bsz).map(|i| (i * 37 + 11) % enc.len()).collect();
        st.score(&be, &mut m, &enc, &sup);
        st.choose(&be, &mut m, &enc, &sup, 3);
        let hp = adam_hp(&spec, 1);
        if gather {
            st.train(&be, &mut m, &hp);
        } else {
            m.forward_mixed(&be, st.b, st.n_low, None);
            m.backward_mixed(&be, st.b, st.n_low);
            m.optimizer_step(&be, &hp);
        }
        let loss = be.read(&m.ws(st.b).stats).unwrap()[0];
        (loss, m.params.params.iter().map(|p| be.read(&p.value).unwrap()).collect::<Vec<_>>())
    };
    check("cpu tiny flexi Stepper step (weights after AdamW)", (step(true), step(false)));
}
