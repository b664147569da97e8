//! The browser demo in a real browser: builds web/pkg (scripts/build-web.sh), serves web/ on a
//! loopback port and drives Debian's headless Chromium with npm playwright-core
//! (tests/browser/run.mjs) — on WebGPU (SwiftShader), without WebGPU (the CPU fallback), with
//! the device lost mid-run, and with an impossible URL. The first step's selection must equal a native run of the same
//! session. Screenshots go to target/browser-artifacts/. Needs chromium, node + `npm ci`, the
//! wasm target and wasm-bindgen-cli (.ci/run installs them); JEST_SKIP_BROWSER=1 skips it
//! explicitly, anything else missing is a failure, never a silent pass.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use jest_wgpu::cli::web_cmd::{load_assets, start_server};
use jest_wgpu::cpu::CpuBackend;
use jest_wgpu::demo::{DemoSettings, Session};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn missing_tools() -> Vec<String> {
    let r = root();
    let mut out = Vec::new();
    if !Path::new("/usr/bin/chromium").exists() {
        out.push("Debian chromium (apt-get install chromium)".into());
    }
    if !r.join("node_modules/playwright-core").is_dir() || !r.join("node_modules/.bin/wasm-opt").exists() {
        out.push("npm packages (npm ci)".into());
    }
    if Command::new("wasm-bindgen").arg("--version").output().is_err() {
        out.push("wasm-bindgen-cli (cargo install wasm-bindgen-cli --version <Cargo.lock's>)".into());
    }
    out
}

/// One run of tests/browser/run.mjs; its last stdout line is the JSON summary.
fn drive(url: &str, mode: &str, steps: usize, out: &Path) -> Value {
    let o = Command::new("node")
        .args(["tests/browser/run.mjs", "--url", url, "--mode", mode, "--steps", &steps.to_string(), "--out"])
        .arg(out)
        .current_dir(root())
        // cargo points LD_LIBRARY_PATH at the toolchain's libraries; Chromium then never
        // finishes loading a page
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("cannot run node");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    eprintln!("--- run.mjs {mode} (exit {:?})\n{}", o.status.code(), stderr.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"));
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or_else(|| panic!("run.mjs {mode} printed no JSON:\n{stdout}\n{stderr}"));
    let v: Value = serde_json::from_str(line).expect("run.mjs JSON");
    assert!(o.status.success(), "run.mjs {mode} failed: {v}");
    v
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array().expect("array").iter().map(|x| x.as_u64().expect("index") as usize).collect()
}

fn r1_series(v: &Value) -> Vec<(usize, f64)> {
    v.as_array().expect("r1 series").iter().map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_f64().unwrap())).collect()
}

#[test]
fn browser_demo() {
    if std::env::var("JEST_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("browser test skipped: JEST_SKIP_BROWSER=1");
        return;
    }
    let missing = missing_tools();
    assert!(missing.is_empty(), "the browser test needs: {} (or set JEST_SKIP_BROWSER=1 to skip it explicitly)", missing.join(", "));
    let r = root();
    let build = Command::new("bash").arg("scripts/build-web.sh").current_dir(&r).status().expect("bash");
    assert!(build.success(), "scripts/build-web.sh failed");

    // the page's first step, natively, from the same assets and settings
    let (data, reference) = load_assets(&r.join("web/assets")).unwrap();
    let settings = DemoSettings::default();
    let mut native = pollster::block_on(Session::new(CpuBackend::new(), Rc::new(data), Some(&reference), settings.clone())).unwrap();
    let first = pollster::block_on(native.step()).unwrap();
    let (bsz, b) = (native.super_batch(), settings.batch);

    let server = start_server(&r.join("web"), 0).unwrap();
    let url = format!("http://{}/", server.addr);
    let out = r.join("target/browser-artifacts");
    std::fs::create_dir_all(&out).unwrap();

    // WebGPU on SwiftShader
    let g = drive(&url, "webgpu", 40, &out);
    assert_eq!(g["backend"], "webgpu", "{g}");
    assert_eq!(g["fallback"], false, "{g}");
    assert!(g["steps"].as_u64().unwrap() >= 40, "{g}");
    assert_eq!(g["cells"].as_u64().unwrap() as usize, bsz, "grid cells: {g}");
    assert_eq!(g["selected_cells"].as_u64().unwrap() as usize, b, "highlighted cells: {g}");
    assert_eq!(g["matrix_nonblank"], true, "{g}");
    assert_eq!(usizes(&g["first_step"]["super_batch"]), first.super_batch, "the page's first super-batch differs from the native run");
    assert_eq!(usizes(&g["first_step"]["selected"]), first.selected, "the page's first selection differs from the native run");
    // held-out R@1 (300 items, every 5 steps) is noisy at this size: the mean of the last two
    // evaluations must beat the same init's R@1 at step 0
    let r1 = r1_series(&g["r1_learner"]);
    let start = r1[0];
    let late = &r1[r1.len() - 2..];
    let end = (late[0].1 + late[1].1) / 2.0;
    eprintln!("webgpu: adapter {}, R@1 of the JEST learner {:?} → {end:.4} at steps {}–{}", g["adapter"], start, late[0].0, late[1].0);
    assert_eq!(start.0, 0);
    assert!(late[1].0 >= 40 && end > start.1, "the JEST learner's held-out R@1 did not rise: {r1:?}");
    assert_eq!(g["console_errors"].as_array().unwrap().len(), 0, "console errors: {}", g["console_errors"]);
    assert!(out.join("webgpu.png").is_file());

    // no WebGPU: the CPU twin in wasm, with the banner
    let c = drive(&url, "nogpu", 3, &out);
    assert_eq!(c["backend"], "cpu", "{c}");
    assert_eq!(c["fallback"], true, "{c}");
    assert_eq!(c["fallback_banner_visible"], true, "{c}");
    assert!(c["steps"].as_u64().unwrap() >= 3, "{c}");
    assert_eq!(usizes(&c["first_step"]["selected"]).len(), b);
    assert_eq!(c["console_errors"].as_array().unwrap().len(), 0, "console errors: {}", c["console_errors"]);
    assert!(out.join("nogpu.png").is_file());
    let e = &c["edit_probe"];
    assert_eq!(e["pending"], true, "an edit did not mark the settings as pending: {e}");
    assert_eq!(e["after"], e["before"], "an edit not yet applied changed the address bar or the share link: {e}");

    // a lost device during a run: a message and a restart button, a responsive tab, recovery
    let l = drive(&url, "lost", 2, &out);
    assert_eq!(l["lost_called"], true, "{l}");
    let text = l["lost_error_text"].as_str().unwrap_or_default();
    assert!(text.contains("lost"), "the page did not say the device was lost: {l}");
    assert_eq!(l["restart_visible"], true, "{l}");
    assert_eq!(l["responsive"], true, "the tab froze: {l}");
    assert_eq!(l["recovered"], true, "restart did not bring the demo back: {l}");
    assert!(out.join("lost.png").is_file());

    // impossible URL state: a message, then the defaults
    let u = drive(&url, "badurl", 1, &out);
    let msg = u["url_error"].as_str().unwrap_or_default();
    assert!(msg.contains("method") || msg.contains("filter_ratio") || msg.contains("chunks"), "no clear message for a bad URL: {u}");
    assert!(u["steps"].as_u64().unwrap() >= 1, "the page did not run with defaults after a bad URL: {u}");
}
