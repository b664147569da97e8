//! The wasm-bindgen face of the demo (web/pkg/jest_wgpu.js): load the data slice, open WebGPU
//! (or fall back to the CPU twin compiled to wasm), step the session and hand JSON and
//! matrices to the page. The contract with web/js is documented in docs/web.md.

use std::rc::Rc;

use js_sys::{Float32Array, Function, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::session::Session;
use super::{DemoData, DemoSettings, SCHEDULE_STEPS};
use crate::backend::Backend;
use crate::cpu::CpuBackend;
use crate::gpu::{GpuBackend, GpuContext};
use crate::train::{adam_hp, new_model, RunSpec};

fn js_err(e: anyhow::Error) -> JsError {
    JsError::new(&format!("{e:#}"))
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The data slice, loaded once per page.
#[wasm_bindgen(js_name = DemoData)]
pub struct JsDemoData(Rc<DemoData>);

#[wasm_bindgen(js_class = DemoData)]
impl JsDemoData {
    /// From the files under web/assets/data (manifest text, then PNG atlas + TSV per split).
    #[allow(clippy::too_many_arguments)]
    pub fn load(manifest: &str, curated_png: &[u8], curated_tsv: &[u8], pool_png: &[u8], pool_tsv: &[u8], test_png: &[u8], test_tsv: &[u8]) -> Result<JsDemoData, JsError> {
        let data = DemoData::from_files(manifest, [(curated_png, curated_tsv), (pool_png, pool_tsv), (test_png, test_tsv)], "assets/data").map_err(js_err)?;
        Ok(JsDemoData(Rc::new(data)))
    }
    pub fn pool_len(&self) -> usize {
        self.0.pool.len()
    }
    pub fn test_len(&self) -> usize {
        self.0.test.len()
    }
    pub fn curated_len(&self) -> usize {
        self.0.curated.len()
    }
    pub fn image_size(&self) -> usize {
        self.0.pool.data.image_size
    }
    /// Pool item i as RGBA bytes (image_size² · 4), for an ImageData.
    pub fn pool_rgba(&self, i: usize) -> Vec<u8> {
        let ds = self.0.pool.data;
        if i >= ds.len() {
            return Vec::new();
        }
        ds.image(i).chunks(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect()
    }
    pub fn pool_caption(&self, i: usize) -> String {
        self.0.pool.data.captions.get(i).cloned().unwrap_or_default()
    }
    pub fn pool_noise(&self, i: usize) -> String {
        self.0.pool.data.noise.get(i).map(|k| k.as_str().to_string()).unwrap_or_default()
    }
}

/// Normalised settings JSON, or an Error saying what is wrong.
#[wasm_bindgen]
pub fn validate_settings(json: &str) -> Result<String, JsError> {
    let s = DemoSettings::from_json(json).map_err(js_err)?;
    Ok(serde_json::to_string(&s).unwrap())
}

enum AnySession {
    Gpu(Session<GpuBackend>),
    Cpu(Session<CpuBackend>),
}

/// `$body` with `$s` bound to whichever session runs (WebGPU or the CPU twin).
macro_rules! on_session {
    ($session:expr, |$s:ident| $body:expr) => {
        match $session {
            AnySession::Gpu($s) => $body,
            AnySession::Cpu($s) => $body,
        }
    };
}

/// The browser's own words for its adapter (GPUAdapterInfo: vendor, architecture,
/// description); wgpu leaves the name empty on the web.
async fn browser_adapter_label() -> Option<String> {
    let gpu = Reflect::get(&web_sys::window()?.navigator(), &"gpu".into()).ok()?;
    let request: Function = Reflect::get(&gpu, &"requestAdapter".into()).ok()?.dyn_into().ok()?;
    let promise: js_sys::Promise = request.call0(&gpu).ok()?.dyn_into().ok()?;
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    let info = Reflect::get(&adapter, &"info".into()).ok().filter(|i| i.is_object())?;
    let parts: Vec<String> = ["vendor", "architecture", "description"]
        .iter()
        .filter_map(|k| Reflect::get(&info, &(*k).into()).ok()?.as_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Open WebGPU, or say why not (the page then runs the CPU twin and shows a banner).
async fn open_webgpu() -> Result<GpuBackend, String> {
    let window = web_sys::window();
    let has_gpu = window.as_ref().map(|w| Reflect::get(&w.navigator(), &JsValue::from_str("gpu")).map(|g| !g.is_undefined()).unwrap_or(false)).unwrap_or(false);
    if !has_gpu {
        // browsers offer WebGPU to secure origins only: https, or http on localhost / 127.0.0.1
        let secure = window.as_ref().and_then(|w| Reflect::get(w, &JsValue::from_str("isSecureContext")).ok()).and_then(|v| v.as_bool()).unwrap_or(true);
        return Err(match secure {
            true => "this browser has no WebGPU (navigator.gpu is missing)".into(),
            false => "the page is not served from a secure origin, and browsers offer WebGPU only to https or http://localhost / 127.0.0.1 pages".into(),
        });
    }
    match GpuContext::new(true).await {
        Ok(ctx) => Ok(GpuBackend::new(ctx)),
        // (the native error's advice — drivers, --backend — means nothing in a browser)
        Err(_) => Err("this browser has WebGPU but gave no adapter: it may block WebGPU on this machine or driver".into()),
    }
}

/// A live demo: the selecting learner and the uniform one.
#[wasm_bindgen]
pub struct Demo {
    session: AnySession,
    fallback: Option<String>,
    label: Option<String>,
}

#[wasm_bindgen]
impl Demo {
    /// Start a demo; `reference` is a checkpoint's bytes (or null for methods that need none).
    pub async fn create(data: &JsDemoData, reference: Option<Vec<u8>>, settings_json: String, force_cpu: bool) -> Result<Demo, JsError> {
        let settings = DemoSettings::from_json(&settings_json).map_err(js_err)?;
        let data = data.0.clone();
        let gpu = if force_cpu { Err("the CPU path was asked for (cpu=1)".to_string()) } else { open_webgpu().await };
        let reference = reference.as_deref();
        Ok(match gpu {
            Ok(be) => {
                let label = browser_adapter_label().await;
                Demo { session: AnySession::Gpu(Session::new(be, data, reference, settings).await.map_err(js_err)?), fallback: None, label }
            }
            Err(why) => Demo { session: AnySession::Cpu(Session::new(CpuBackend::new(), data, reference, settings).await.map_err(js_err)?), fallback: Some(why), label: None },
        })
    }

    /// "webgpu" or "cpu".
    pub fn backend(&self) -> String {
        match &self.session {
            AnySession::Gpu(_) => "webgpu".into(),
            AnySession::Cpu(_) => "cpu".into(),
        }
    }
    pub fn adapter(&self) -> String {
        match &self.session {
            AnySession::Gpu(s) => match &self.label {
                Some(l) => format!("{l} (WebGPU)"),
                None => s.be.adapter_name(),
            },
            AnySession::Cpu(_) => "CPU (wasm, 1 thread)".into(),
        }
    }
    pub fn fallback_reason(&self) -> Option<String> {
        self.fallback.clone()
    }
    /// The normalised settings plus the derived super-batch B and chunk size m.
    pub fn settings(&self) -> String {
        let (s, bsz) = on_session!(&self.session, |s| (&s.settings, s.super_batch()));
        let mut v = serde_json::to_value(s).unwrap();
        // f32 → JSON would print 0.003000000026: give the page the numbers it was given
        for (k, x) in [("lr", s.lr), ("score_gain", s.score_gain)] {
            v[k] = x.to_string().parse::<f64>().unwrap_or(x as f64).into();
        }
        v["super_batch"] = bsz.into();
        v["chunk_size"] = (s.batch / s.chunks).into();
        v.to_string()
    }
    pub fn initial_eval(&self) -> String {
        let e = on_session!(&self.session, |s| &s.initial_eval);
        serde_json::to_string(e).unwrap()
    }
    /// One step of both learners, as JSON (see `StepReport`).
    pub async fn step(&mut self) -> Result<String, JsError> {
        let rep = on_session!(&mut self.session, |s| s.step().await).map_err(js_err)?;
        Ok(serde_json::to_string(&rep).unwrap())
    }
    /// Destroy the GPU device, as a driver reset would (for tests of the page's recovery);
    /// returns false on the CPU path.
    pub fn lose_device_for_test(&self) -> bool {
        match &self.session {
            AnySession::Gpu(s) => {
                s.be.ctx.device.destroy();
                true
            }
            AnySession::Cpu(_) => false,
        }
    }
    /// Last step's B×B matrix: "learnability", "learner" (loss) or "reference" (loss).
    pub fn matrix(&self, kind: &str) -> Result<Float32Array, JsError> {
        let last = on_session!(&self.session, |s| &s.last);
        let k = match kind {
            "learnability" => 0,
            "learner" => 1,
            "reference" => 2,
            other => return Err(JsError::new(&format!("unknown matrix `{other}`: learnability, learner or reference"))),
        };
        Ok(Float32Array::from(&last[k][..]))
    }
}

/// Train a fresh reference on the curated slice, reporting `on_progress(done, total, loss)`;
/// returns the checkpoint's bytes (for `Demo.create`).
#[wasm_bindgen]
pub async fn train_reference(data: &JsDemoData, settings_json: String, steps: usize, force_cpu: bool, on_progress: Function) -> Result<Uint8Array, JsError> {
    let settings = DemoSettings::from_json(&settings_json).map_err(js_err)?;
    let bytes = match if force_cpu { Err(String::new()) } else { open_webgpu().await } {
        Ok(be) => reference_bytes(&be, &data.0, &settings, steps, &on_progress).await,
        Err(_) => reference_bytes(&CpuBackend::new(), &data.0, &settings, steps, &on_progress).await,
    }
    .map_err(js_err)?;
    Ok(Uint8Array::from(&bytes[..]))
}

async fn reference_bytes<B: Backend>(be: &B, data: &DemoData, settings: &DemoSettings, steps: usize, on_progress: &Function) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!((1..=SCHEDULE_STEPS * 10).contains(&steps), "reference steps must lie in 1..={}", SCHEDULE_STEPS * 10);
    let preset = settings.preset(data.tok.vocab_size())?;
    let spec = RunSpec { preset, steps, seed: settings.seed ^ 0xFEED, method: "reference".into(), data: "demo/curated".into() };
    let mut model = new_model(be, &spec)?;
    let b = spec.preset.train.batch;
    let every = (steps / 50).max(1);
    for step in 0..steps {
        let idx = crate::batch::step_indices(data.curated.len(), b, spec.seed, step as u64);
        model.upload(be, &data.curated.batch(&idx));
        model.forward(be, b);
        model.backward(be, b);
        model.optimizer_step(be, &adam_hp(&spec, step));
        if (step + 1) % every == 0 || step + 1 == steps {
            let loss = be.read_async(&model.ws(b).stats).await?[0];
            anyhow::ensure!(loss.is_finite(), "reference training diverged at step {} (loss {loss}); lower the learning rate", step + 1);
            let _ = on_progress.call3(&JsValue::NULL, &(step + 1).into(), &steps.into(), &loss.into());
        }
    }
    crate::model::params::safetensors_bytes(&model.params.to_host_async(be).await?, crate::train::model_meta(&spec)?)
}
