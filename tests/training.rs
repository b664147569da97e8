//! End to end on the builtin data: both backends give the same losses, training beats chance
//! on held-out retrieval, and whole-model gradients match finite differences.
mod common;

use jest_wgpu::backend::Backend;
use jest_wgpu::batch::{step_indices, Encoded};
use jest_wgpu::config::Preset;
use jest_wgpu::cpu::CpuBackend;
use jest_wgpu::data::{load_builtin, SplitName, Tokenizer};
use jest_wgpu::train::{new_model, train, Progress, RunControl, RunSpec};

fn spec(preset: &str, steps: usize, tok: &Tokenizer) -> RunSpec {
    RunSpec { preset: Preset::named(preset, tok.vocab_size()).unwrap(), steps, seed: 7, method: "reference".into(), data: "curated".into() }
}

fn losses_on<B: Backend>(be: &B, spec: &RunSpec, data: &Encoded, tok: &Tokenizer) -> Vec<f32> {
    let mut model = new_model(be, spec).unwrap();
    let rep = train(be, &mut model, spec, &RunControl::default(), data, None, tok, Progress::default()).unwrap();
    rep.losses
}

#[test]
fn gpu_and_cpu_give_the_same_losses_over_20_tiny_steps() {
    let Some(g) = common::gpu("gpu_and_cpu_give_the_same_losses_over_20_tiny_steps") else { return };
    // weight and bias gradients split over workgroups, as on a hardware GPU, also on lavapipe
    g.ctx.set_split_sums(true);
    let tok = Tokenizer::builtin().unwrap();
    let curated = load_builtin(SplitName::Curated).unwrap();
    let s = spec("tiny", 20, &tok);
    let enc = Encoded::new(&curated, &tok, s.preset.model.text_len);
    let cpu = losses_on(&CpuBackend::new(), &s, &enc, &tok);
    let gpu = losses_on(&g.be, &s, &enc, &tok);
    assert_eq!((cpu.len(), gpu.len()), (20, 20), "steps logged on the CPU and the GPU");
    let mut worst = 0f32;
    for (i, (c, g)) in cpu.iter().zip(&gpu).enumerate() {
        let rel = (c - g).abs() / c.abs().max(1e-6);
        worst = worst.max(rel);
        assert!(rel <= 1e-3, "step {}: cpu loss {c} vs gpu loss {g} (rel {rel:.2e})", i + 1);
    }
    println!("cpu {:?}\ngpu {:?}\nmax relative difference {worst:.2e}", cpu, gpu);
    assert!(cpu[19] < cpu[0], "loss must fall over 20 steps: {} → {}", cpu[0], cpu[19]);
}

#[test]
fn tiny_reference_training_lifts_retrieval_well_above_chance() {
    let tok = Tokenizer::builtin().unwrap();
    let curated = load_builtin(SplitName::Curated).unwrap();
    let test = load_builtin(SplitName::Test).unwrap();
    let s = spec("tiny", 300, &tok);
    let l = s.preset.model.text_len;
    let (enc, tenc) = (Encoded::new(&curated, &tok, l), Encoded::new(&test, &tok, l));
    let be = CpuBackend::new();
    let mut model = new_model(&be, &s).unwrap();
    let before = jest_wgpu::eval::evaluate(&be, &mut model, &tenc, &tok).unwrap();
    let rep = train(&be, &mut model, &s, &RunControl::default(), &enc, Some(&tenc), &tok, Progress::default()).unwrap();
    let ev = rep.eval.unwrap();
    println!("before: {before:?}\nafter 300 tiny steps: {ev:?}");
    for (name, v) in [("i2t R@1", ev.i2t_r1), ("t2i R@1", ev.t2i_r1)] {
        assert!(v >= 4.0 * ev.chance_r1, "{name} {v:.4} is not clearly above chance {:.4}", ev.chance_r1);
    }
    assert!(ev.i2t_r5 > before.i2t_r5 && ev.t2i_r5 > before.t2i_r5, "R@5 must improve with training");
    assert!(ev.zero_shot_acc > ev.chance_zero_shot + 0.05, "zero-shot {:.3} vs chance {:.3}", ev.zero_shot_acc, ev.chance_zero_shot);
    let head: f32 = rep.losses[..20].iter().sum::<f32>() / 20.0;
    let tail: f32 = rep.losses[280..].iter().sum::<f32>() / 20.0;
    assert!(tail < head - 0.3, "loss must fall: first 20 mean {head:.3}, last 20 mean {tail:.3}");
}

/// The wiring of every backward (blocks, towers, loss, embeddings) checked at once: analytic
/// gradients of the whole model against central differences of the loss, in f32 on the CPU
/// backend, at the largest-gradient entry of every tensor.
#[test]
fn whole_model_gradients_match_finite_differences() {
    grad_check(None);
}

/// The same for Flexi-JEST's mixed-resolution step (half the images pooled to half size,
/// positional grid pooled alike, one loss over the whole batch).
#[test]
fn mixed_resolution_gradients_match_finite_differences() {
    grad_check(Some((16, 4)));
}

/// And at a resolution that is not a power-of-two step down (32 → 24 px, an 8×8 positional
/// grid resampled to 6×6), with 3 of the 8 images there.
#[test]
fn mixed_resolution_24px_gradients_match_finite_differences() {
    grad_check(Some((24, 3)));
}

/// `mixed`: (low-resolution side in px, images of the batch trained there).
fn grad_check(mixed: Option<(usize, usize)>) {
    let tok = Tokenizer::builtin().unwrap();
    let curated = load_builtin(SplitName::Curated).unwrap();
    let mut s = spec("tiny", 1, &tok);
    s.preset.model.depth = 2;
    s.preset.model.patch = 4; // an 8×8 grid; 4×4 or 6×6 at low resolution
    let be = CpuBackend::new();
    let enc = Encoded::new(&curated, &tok, s.preset.model.text_len);
    let b = 8;
    let batch = enc.batch(&step_indices(enc.len(), b, 3, 0));
    let mut model = new_model(&be, &s).unwrap();
    if let Some((px, _)) = mixed {
        model.set_low_size(px);
    }
    model.upload(&be, &batch);
    let loss = |m: &mut jest_wgpu::model::DualEncoder<CpuBackend>| -> f64 {
        if let Some((_, n_low)) = mixed {
            m.forward_mixed(&be, b, n_low, None);
        } else {
            m.forward(&be, b);
        }
        be.read(&m.ws(b).stats).unwrap()[0] as f64
    };
    loss(&mut model);
    if let Some((_, n_low)) = mixed {
        model.backward_mixed(&be, b, n_low);
    } else {
        model.backward(&be, b);
    }
    let mut checked = 0;
    let mut worst = 0f64;
    for pi in 0..model.params.params.len() {
        let p = &model.params.params[pi];
        let grad = be.read(&p.grad).unwrap();
        let (k, g) = grad.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).map(|(k, g)| (k, *g as f64)).unwrap();
        if g.abs() < 1e-2 {
            continue; // too small to resolve with f32 differences
        }
        let name = p.name.clone();
        let val = be.read(&p.value).unwrap();
        let eps = 1e-3f32.max(val[k].abs() * 1e-3);
        let mut v = val.clone();
        v[k] = val[k] + eps;
        be.write(&model.params.params[pi].value, &v);
        let lp = loss(&mut model);
        v[k] = val[k] - eps;
        be.write(&model.params.params[pi].value, &v);
        let lm = loss(&mut model);
        be.write(&model.params.params[pi].value, &val);
        let num = (lp - lm) / (2.0 * eps as f64);
        let rel = (num - g).abs() / g.abs().max(num.abs());
        worst = worst.max(rel);
        assert!(rel < 0.05, "{name}[{k}]: analytic {g:.6} vs numeric {num:.6} (rel {rel:.3})");
        checked += 1;
    }
    println!("mixed resolution: {mixed:?}; checked {checked} tensors; worst relative error {worst:.4}");
    assert!(checked >= 20, "only {checked} tensors had gradients large enough to check");
}
