//! The browser demo's Rust side, natively: settings validation (the page's URL state), the
//! shipped assets, a session's step reports, GPU = CPU selection, and `serve`.

mod common;

use std::rc::Rc;

use jest_wgpu::backend::Backend;
use jest_wgpu::cli::web_cmd::{load_assets, start_server};
use jest_wgpu::cpu::CpuBackend;
use jest_wgpu::demo::{assets, DemoData, DemoSettings, Session};

fn err(json: &str) -> String {
    format!("{:#}", DemoSettings::from_json(json).unwrap_err())
}

#[test]
fn impossible_settings_say_what_is_wrong() {
    assert_eq!(DemoSettings::from_json("").unwrap(), DemoSettings::default());
    assert!(err(r#"{"filter_ratio":1.5}"#).contains("filter_ratio must lie in [0, 1)"), "{}", err(r#"{"filter_ratio":1.5}"#));
    assert!(err(r#"{"chunks":0}"#).contains("must divide the batch size"));
    assert!(err(r#"{"chunks":5}"#).contains("must divide the batch size"));
    assert!(err(r#"{"method":"foo"}"#).contains("unknown method `foo`"));
    assert!(err(r#"{"score_gain":-1}"#).contains("score_gain must be a positive number"), "errors name the settings' own keys");
    // the URL's keys are accepted in the JSON too
    assert!(err(r#"{"f":1.5}"#).contains("filter_ratio must lie in [0, 1)"));
    assert!(err(r#"{"gain":0}"#).contains("score_gain must be a positive number"));
    assert!(err(r#"{"lr":0}"#).contains("lr must lie"));
    assert!(err(r#"{"filter_ratio":0.99}"#).contains("too large for a browser tab"));
    assert!(err(r#"{"colour":"red"}"#).contains("unknown field `colour`"));
    assert!(err(r#"{"chunks":"four"}"#).contains("invalid type"));
    assert!(!err(r#"{"filter_ratio":1.5}"#).contains("--"), "page errors must not name CLI flags");
}

fn shipped() -> (DemoData, Vec<u8>) {
    load_assets(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/assets")).expect("web/assets")
}

#[test]
fn shipped_assets_are_the_builtin_slice() {
    let (data, reference) = shipped();
    let [c, p, t] = assets::slice_builtin().unwrap();
    for (got, want) in [(&data.curated, &c), (&data.pool, &p), (&data.test, &t)] {
        assert_eq!(got.data.key, want.key, "web/assets differs from `jest-wgpu web-assets`: rebuild it");
        assert_eq!(got.data.images, want.images);
        assert_eq!(got.data.noise, want.noise);
    }
    assert_eq!(data.pool.len(), assets::SLICE[1]);
    let noisy = data.pool.data.noise.iter().filter(|k| k.as_str() != "clean").count() as f64 / data.pool.len() as f64;
    assert!((0.4..0.6).contains(&noisy), "the slice keeps the pool's noise mix: {noisy}");
    // the shipped reference is a browser-preset model that beats chance on the test slice
    let be = CpuBackend::new();
    let (mut model, spec) = jest_wgpu::train::load_model_bytes(&be, &reference, "reference").unwrap();
    // made as `jest-wgpu web-assets` (2,000 steps, seed 0) makes it, so that command rebuilds it
    let want = assets::reference_spec(2000, 0, data.tok.vocab_size()).unwrap();
    assert_eq!(spec, want, "web/assets/reference.safetensors is not what `jest-wgpu web-assets` trains: rebuild it");
    let (u, v) = jest_wgpu::eval::embed_all(&be, &mut model, &data.test).unwrap();
    let r = jest_wgpu::eval::retrieval(&u, &v, spec.preset.model.embed_dim, &data.test.data.concept);
    eprintln!("shipped reference on the test slice: i2t R@1 {:.3}, t2i {:.3}, chance {:.4}", r.i2t_r1, r.t2i_r1, r.chance_r1);
    assert!(r.i2t_r1 + r.t2i_r1 > 6.0 * r.chance_r1);
}

fn run_session<B: Backend>(be: B, settings: DemoSettings, steps: usize) -> Vec<jest_wgpu::demo::StepReport> {
    let (data, reference) = shipped();
    let mut s = pollster::block_on(Session::new(be, Rc::new(data), Some(&reference), settings)).unwrap();
    (0..steps).map(|_| pollster::block_on(s.step()).unwrap()).collect()
}

#[test]
fn step_reports_are_consistent() {
    for method in ["jest", "uniform", "hard-learner", "flexi-jest"] {
        let settings = DemoSettings { method: method.into(), eval_every: 2, ..Default::default() };
        let reps = run_session(CpuBackend::new(), settings.clone(), 2);
        let (b, bsz) = (settings.batch, 160);
        for r in &reps {
            assert_eq!(r.super_batch.len(), bsz);
            let mut sel = r.selected.clone();
            sel.sort_unstable();
            sel.dedup();
            assert_eq!(sel.len(), b, "{method}: {b} distinct positions");
            assert!(sel.iter().all(|&p| p < bsz));
            assert_eq!(r.chunk_learnability.len(), 4, "{method}");
            assert!(r.superbatch_learnability.is_some());
            let total: f64 = r.noise_share.learner.values().sum();
            assert!((total - 1.0).abs() < 1e-9);
            assert!(r.loss.learner.is_finite() && r.loss.uniform.is_finite());
        }
        assert!(reps[1].flops.learner > reps[0].flops.learner);
        assert!(reps[1].eval.is_some() && reps[0].eval.is_none());
        if method == "uniform" {
            assert_eq!(reps[0].selected, (0..b).collect::<Vec<_>>());
            assert_eq!(reps[0].loss.learner, reps[0].loss.uniform, "uniform vs uniform from one init");
        } else {
            assert!(reps[0].flops.learner > reps[0].flops.uniform, "{method} pays for scoring");
        }
    }
    // at a high gain JEST's first chunk beats the super-batch's mean learnability
    let reps = run_session(CpuBackend::new(), DemoSettings { score_gain: 100.0, ..Default::default() }, 1);
    let r = &reps[0];
    assert!(r.chunk_learnability[0] > r.superbatch_learnability.unwrap(), "{:?} vs {:?}", r.chunk_learnability, r.superbatch_learnability);
}

#[test]
fn gpu_session_selects_like_the_cpu() {
    let Some(g) = common::gpu("gpu_session_selects_like_the_cpu") else { return };
    let settings = DemoSettings::default();
    let gpu = run_session(g.be.clone(), settings.clone(), 2);
    let cpu = run_session(CpuBackend::new(), settings, 2);
    for (a, b) in gpu.iter().zip(&cpu) {
        assert_eq!(a.super_batch, b.super_batch);
        assert_eq!(a.selected, b.selected, "step {}: the GPU and CPU sessions chose differently", a.step);
        assert!((a.loss.learner - b.loss.learner).abs() < 1e-3 * b.loss.learner.abs(), "{} vs {}", a.loss.learner, b.loss.learner);
    }
}

#[test]
fn serve_stays_inside_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let err = start_server(dir.path(), 0).err().unwrap().to_string();
    assert!(err.contains("no index.html"), "{err}");
    std::fs::write(dir.path().join("index.html"), "<h1>hi</h1>").unwrap();
    let err = start_server(dir.path(), 0).err().unwrap().to_string();
    assert!(err.contains("scripts/build-web.sh"), "{err}");
    std::fs::create_dir(dir.path().join("pkg")).unwrap();
    std::fs::write(dir.path().join("pkg/jest_wgpu_bg.wasm"), b"\0asm").unwrap();
    let server = start_server(dir.path(), 0).unwrap();
    let get = |path: &str| -> (u16, String, Vec<u8>) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(server.addr).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf).to_string();
        let status = text[9..12].parse().unwrap();
        let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        (status, text[..split].to_lowercase(), buf[split..].to_vec())
    };
    let (st, head, body) = get("/");
    assert_eq!((st, body), (200, b"<h1>hi</h1>".to_vec()));
    assert!(head.contains("content-type: text/html"));
    let (st, head, _) = get("/pkg/jest_wgpu_bg.wasm");
    assert_eq!(st, 200);
    assert!(head.contains("application/wasm"), "{head}");
    for hostile in ["/../Cargo.toml", "/%2e%2e/Cargo.toml", "/pkg/..%2f..%2fetc/passwd", "/%2Fetc%2Fpasswd", "/missing.js"] {
        assert_eq!(get(hostile).0, 404, "{hostile}");
    }
}
