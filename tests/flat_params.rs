//! The GPU keeps every parameter tensor (value, gradient, moments) as a view into four flat
//! buffers, so a step zeroes, norms and updates them in a handful of dispatches: views must
//! read and write only their own words, the split sum of squares must match its twins, and
//! the flat model must equal the CPU's tensor-by-tensor one.
mod common;

use common::*;
use jest_wgpu::backend::{AdamHp, Backend};
use jest_wgpu::config::Preset;
use jest_wgpu::cpu::{optim, CpuBackend};
use jest_wgpu::gpu::optim as gpu_optim;
use jest_wgpu::gpu::GpuBuf;
use jest_wgpu::model::DualEncoder;

/// Kernels through views at aligned offsets touch only the view's words: fill, add_inplace,
/// sumsq and a copy between views of one buffer, read back through the whole buffer.
#[test]
fn views_read_and_write_only_their_own_words() {
    let Some(g) = gpu("views_read_and_write_only_their_own_words") else { return };
    let a = g.view_align().expect("the GPU backend has views");
    println!("view alignment: {a} words");
    let total = 5 * a;
    let whole = g.upload(&vec![-1.0; total]);
    // three views of awkward lengths, each at its own aligned offset, padding after each
    let (v0, v1, v2) = (g.view(&whole, 0, a - 3), g.view(&whole, a, 2 * a - 1), g.view(&whole, 3 * a, 7));
    g.fill(&v1, 2.0);
    let src = g.upload(&rand_vec(v2.len, 11, 1.0));
    g.add_inplace(&v2, &src);
    g.copy(&v0, 1, &v2, 2, 3); // v0[1..4] = v2[2..5]
    // to and from a buffer of its own
    let other = g.upload(&[7.0, 8.0, 9.0, 10.0]);
    g.copy(&other, 0, &v1, 5, 2); // other[0..2] = v1[5..7] = 2
    g.copy(&v2, 6, &other, 3, 1); // v2[6] = 10
    let acc = g.upload(&[0.0]);
    g.sumsq(&acc, &v1);
    let got = g.read(&whole).unwrap();
    let mut want = vec![-1.0f32; total];
    want[a..a + 2 * a - 1].iter_mut().for_each(|x| *x = 2.0);
    let s = rand_vec(7, 11, 1.0);
    for i in 0..7 {
        want[3 * a + i] = -1.0 + s[i];
    }
    want.copy_within(3 * a + 2..3 * a + 5, 1);
    want[3 * a + 6] = 10.0;
    assert_close("whole buffer after kernels on views", &got, &want, 0.0, 1e-7);
    assert_close("sumsq of a view", &g.read(&acc).unwrap(), &[4.0 * (2 * a - 1) as f32], 0.0, 1e-6);
    assert_eq!(g.read(&v2).unwrap(), want[3 * a..3 * a + 7].to_vec(), "read through a view");
    assert_eq!(g.read(&other).unwrap(), [2.0, 2.0, 9.0, 10.0], "copied out of a view");
}

/// `sumsq_partial` against its twin, with more workgroups than blocks of 256 (some sum
/// nothing) and with lengths that are not multiples of 256; `sum_into` against its twin.
#[test]
fn gpu_sumsq_partial_and_sum_into_match_twins() {
    let Some(g) = gpu("gpu_sumsq_partial_and_sum_into_match_twins") else { return };
    for (n, groups) in [(1usize, 1usize), (300, 5), (4097, 3), (65_537, 17), (300_001, gpu_optim::sumsq_groups(300_001))] {
        let x = rand_vec(n, 90 + n as u64, 1.0);
        let mut want = vec![0.0f32; groups];
        optim::sumsq_partials(&mut want, &x);
        let partials = g.upload(&vec![f32::NAN; groups]);
        gpu_optim::sumsq_partial(&g.ctx, &partials, &g.upload(&x));
        let got = g.read(&partials).unwrap();
        assert_close(&format!("sumsq_partial n={n} groups={groups}"), &got, &want, 1e-6, 2e-6);
        let mut acc = vec![0.25f32];
        optim::sum_into(&mut acc, &got);
        let gacc = g.upload(&[0.25]);
        gpu_optim::sum_into(&g.ctx, &gacc, &partials);
        assert_close(&format!("sum_into of {groups}"), &g.read(&gacc).unwrap(), &acc, 1e-6, 2e-6);
    }
    // Backend::sumsq either side of the split, and far past it (256 groups, > 16 words a thread)
    for n in [gpu_optim::SUMSQ_ONE_GROUP_MAX, gpu_optim::SUMSQ_ONE_GROUP_MAX + 1, 1_048_577 * 3] {
        let x = rand_vec(n, 7 + n as u64, 1.0);
        let mut acc = vec![1.0f32];
        optim::sumsq(&mut acc, &x);
        let gacc = g.upload(&[1.0]);
        g.sumsq(&gacc, &g.upload(&x));
        assert_close(&format!("gpu sumsq n={n}"), &g.read(&gacc).unwrap(), &acc, 1e-6, 2e-6);
    }
}

/// The `default` model on the GPU: flat (each tensor an aligned view, matrices before vectors,
/// two AdamW groups), initialised to the same values as the CPU's separate tensors, and after
/// one optimizer step on the same gradients the same values and moments.
#[test]
fn flat_gpu_parameters_equal_the_cpus_separate_ones() {
    let Some(g) = gpu("flat_gpu_parameters_equal_the_cpus_separate_ones") else { return };
    let preset = Preset::named("default", 512).unwrap();
    let (cpu, gm) = (CpuBackend::new(), 64);
    let mut c = DualEncoder::new(&cpu, &preset.model, 5, gm);
    let mut m = DualEncoder::new(&g.be, &preset.model, 5, gm);
    assert!(m.params.is_flat() && !c.params.is_flat());
    let align = g.view_align().unwrap();
    let offs: Vec<(usize, bool)> = m.params.params.iter().map(|p: &jest_wgpu::model::params::Param<_>| {
        let v: &GpuBuf = &p.value;
        assert_eq!(v.off % align, 0, "{} at word {}", p.name, v.off);
        (v.off, p.decay)
    }).collect();
    let last_matrix = offs.iter().filter(|o| o.1).map(|o| o.0).max().unwrap();
    let first_vector = offs.iter().filter(|o| !o.1).map(|o| o.0).min().unwrap();
    assert!(last_matrix < first_vector, "matrices lie before vectors");
    let groups = m.params.update_groups();
    assert_eq!(groups.iter().map(|p| p.decay).collect::<Vec<_>>(), [true, false]);
    assert_eq!(m.params.grad_buffers().len(), 1);
    for (pc, pg) in c.params.params.iter().zip(&m.params.params) {
        assert_close(&format!("init {}", pc.name), &g.read(&pg.value).unwrap(), &cpu.read(&pc.value).unwrap(), 1e-6, 1e-5);
    }
    // the same gradients into both, then one clipped, decayed step
    for (i, (pc, pg)) in c.params.params.iter().zip(&m.params.params).enumerate() {
        let grad = rand_vec(pc.numel(), 300 + i as u64, 0.5);
        cpu.write(&pc.grad, &grad);
        g.write(&pg.grad, &grad);
    }
    let hp = AdamHp { base_lr: 1e-2, min_lr: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1, clip: 1.0, step: 3, warmup: 2, total: 10, _pad: [0; 2] };
    c.optimizer_step(&cpu, &hp);
    m.optimizer_step(&g.be, &hp);
    assert_close("gnorm²", &g.read(m.gnorm2()).unwrap(), &cpu.read(c.gnorm2()).unwrap(), 1e-6, 2e-5);
    for (pc, pg) in c.params.params.iter().zip(&m.params.params) {
        for (what, a, b) in [("value", &pg.value, &pc.value), ("m", &pg.m, &pc.m), ("v", &pg.v, &pc.v)] {
            assert_close(&format!("{what} {}", pc.name), &g.read(a).unwrap(), &cpu.read(b).unwrap(), 1e-6, 1e-4);
        }
    }
    // zeroing the gradients is one fill of the flat buffer, and reaches every tensor
    let d0 = g.ctx.dispatch_count();
    m.params.zero_grads(&g.be);
    assert_eq!(g.ctx.dispatch_count() - d0, 1);
    assert!(m.params.params.iter().all(|p| g.read(&p.grad).unwrap().iter().all(|&x| x == 0.0)));
}
