//! Device failures and impossible configurations end in clear errors, never hangs or panics.
mod common;

use jest_wgpu::backend::Backend;
use jest_wgpu::config::{ModelConfig, Preset};

#[test]
fn a_lost_device_gives_an_error_not_a_hang() {
    let Some(g) = common::gpu("a_lost_device_gives_an_error_not_a_hang") else { return };
    let a = g.upload(&[1.0; 64]);
    let c = g.zeros(64);
    g.matmul(&c, &a, &a, None, 8, 8, 8, false, false, false);
    assert!(g.read(&c).is_ok());
    g.ctx.device.destroy();
    g.matmul(&c, &a, &a, None, 8, 8, 8, false, false, false);
    let r = g.read(&c);
    let e = r.expect_err("reading from a destroyed device must fail");
    println!("after device.destroy(): {e:#}");
}

#[test]
fn async_read_back_matches_the_blocking_one() {
    let Some(g) = common::gpu("async_read_back_matches_the_blocking_one") else { return };
    let v: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5).collect();
    let b = g.upload(&v);
    assert_eq!(pollster::block_on(g.read_async(&b)).unwrap(), v);
    assert_eq!(g.read(&b).unwrap(), v);
}

#[test]
fn impossible_model_configs_are_clear_errors() {
    let base = Preset::named("tiny", 100).unwrap().model;
    let cases: Vec<(ModelConfig, &str)> = vec![
        (ModelConfig { width: 0, ..base.clone() }, "width is 0"),
        (ModelConfig { heads: 3, ..base.clone() }, "heads (3) must divide width (32)"),
        (ModelConfig { patch: 5, ..base.clone() }, "patch (5) must divide image_size (32)"),
        (ModelConfig { text_len: 0, ..base.clone() }, "text_len is 0"),
        (ModelConfig { patch: 2, ..base.clone() }, "at most 128 tokens"),
        // a checkpoint's spec asking for more than any machine holds: refused before allocation,
        // also for sizes whose products pass 2^64 (MLP width here: 2^70)
        (ModelConfig { depth: 1_000_000_000, ..base.clone() }, "more than the 268435456"),
        (ModelConfig { width: 1 << 40, heads: 1, mlp_ratio: 1 << 30, ..base.clone() }, "more than the 268435456"),
    ];
    for (cfg, want) in cases {
        let e = cfg.validate().expect_err(want).to_string();
        assert!(e.contains(want), "expected `{want}` in `{e}`");
    }
    let e = base.check_fits(100_000, 128 << 20, "llvmpipe").unwrap_err().to_string();
    assert!(e.contains("allows at most 128.0 MiB") && e.contains("lower --batch"), "{e}");
}
