//! The web demo's commands: `serve` (the static site on a loopback port), `web-assets` (the
//! data slice and shipped reference the page loads) and `demo` (the page's session, natively).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::backend_choice::{open, BackendChoice};
use crate::backend::Backend;
use crate::demo::{assets, DemoData, DemoSettings, Session};
use crate::with_backend;

/// The site folder: `web/` beside the crate when run from a checkout, else `./web`.
fn default_site() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    if here.is_dir() {
        here
    } else {
        PathBuf::from("web")
    }
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// the site folder (index.html, pkg/, assets/)
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// TCP port on 127.0.0.1 (0 = any free port)
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
}

/// A running loopback server; dropping it stops serving.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "wasm" => "application/wasm",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "md" | "tsv" | "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file under `root` that a request path names; None for anything that leaves the root.
fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("/");
    let mut out = root.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let part = percent_decode(part)?;
        let c = Path::new(&part).components().collect::<Vec<_>>();
        if c.len() != 1 || !matches!(c[0], Component::Normal(_)) || part.contains('\\') {
            return None;
        }
        out.push(part);
    }
    if out.is_dir() {
        out.push("index.html");
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One request per connection, answered with its length and `Connection: close` (HTTP/1.0
/// style). tiny_http 0.12 with keep-alive left some of Chromium's parallel module requests
/// unanswered (measured: 2 of 3 fresh page loads stalled), so this is plain std::net.
fn answer(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new((&stream).take(64 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (method, url) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let (status, ctype, body) = if method != "GET" && method != "HEAD" {
        ("405 Method Not Allowed", "text/plain", b"only GET and HEAD".to_vec())
    } else {
        match resolve(root, url).and_then(|p| std::fs::read(&p).ok().map(|b| (p, b))) {
            Some((p, bytes)) => ("200 OK", content_type(&p), bytes),
            None => ("404 Not Found", "text/plain", b"not found".to_vec()),
        }
    };
    let mut out = &stream;
    write!(out, "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n", body.len())?;
    if method != "HEAD" {
        out.write_all(&body)?;
    }
    out.flush()?;
    stream.shutdown(Shutdown::Write)
}

/// Serve `dir` on 127.0.0.1:`port` from background threads (GET and HEAD only).
pub fn start_server(dir: &Path, port: u16) -> Result<Server> {
    if !dir.join("index.html").is_file() {
        bail!("{} has no index.html: point --dir at the site folder (web/ in the repository)", dir.display());
    }
    if !dir.join("pkg/jest_wgpu_bg.wasm").is_file() {
        bail!("{} has no pkg/jest_wgpu_bg.wasm: build the page first with `scripts/build-web.sh`", dir.display());
    }
    let listener = TcpListener::bind(("127.0.0.1", port)).with_context(|| format!("cannot listen on 127.0.0.1:{port}; pick another --port"))?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, root) = (stop.clone(), dir.to_path_buf());
    let thread = std::thread::spawn(move || {
        for stream in listener.incoming() {
            if flag.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let root = root.clone();
            std::thread::spawn(move || {
                let _ = answer(stream, &root);
            });
        }
    });
    Ok(Server { addr, stop, thread: Some(thread) })
}

pub fn serve(a: ServeArgs) -> Result<()> {
    let dir = a.dir.unwrap_or_else(default_site);
    let server = start_server(&dir, a.port)?;
    eprintln!("serving {} on http://{}/ (loopback only; Ctrl-C stops)", dir.display(), server.addr);
    loop {
        std::thread::park();
    }
}

#[derive(Args, Debug)]
pub struct WebAssetsArgs {
    /// where the page's assets go (default: the repository's web/assets, replacing the shipped ones)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// steps of the shipped reference (browser preset, whole curated split)
    #[arg(long, default_value_t = 2000)]
    pub reference_steps: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = BackendChoice::Cpu)]
    pub backend: BackendChoice,
}

pub fn web_assets(a: WebAssetsArgs) -> Result<()> {
    if a.reference_steps == 0 {
        anyhow::bail!("--reference-steps must be at least 1 (steps of the shipped reference)");
    }
    let out = a.out.unwrap_or_else(|| default_site().join("assets"));
    crate::util::check_output_dir(&out).context("--out")?;
    // the backend and the training first: a failure or Ctrl-C there leaves OUT as it was
    let (be, why) = open(a.backend)?;
    let path = out.join("reference.safetensors");
    eprintln!("training the shipped reference on {why}");
    with_backend!(be, |be| assets::train_reference(&be, a.reference_steps, a.seed, &path, true))?;
    eprintln!("wrote {}", path.display());
    let bytes = assets::write_slice(&out)?;
    eprintln!("data slice ({} curated, {} pool, {} test items): {:.1} MB in {}/data", assets::SLICE[0], assets::SLICE[1], assets::SLICE[2], bytes as f64 / 1e6, out.display());
    Ok(())
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// the page's settings as JSON: method, filter_ratio (or the URL's f), chunks, score_gain
    /// (or gain), lr, seed, batch, eval_every; e.g. '{"method":"jest","filter_ratio":0.9}'
    #[arg(long, default_value = "{}")]
    pub settings: String,
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// the assets folder the page loads (default web/assets)
    #[arg(long)]
    pub assets: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = BackendChoice::Cpu)]
    pub backend: BackendChoice,
    /// one JSON object per step on stdout (the page's step reports)
    #[arg(long)]
    pub json: bool,
}

/// The demo's data and reference from an assets folder, as the page loads them.
pub fn load_assets(dir: &Path) -> Result<(DemoData, Vec<u8>)> {
    let read = |f: &str| std::fs::read(dir.join(f)).with_context(|| format!("reading {}/{f}: build it with `jest-wgpu web-assets`", dir.display()));
    let manifest = String::from_utf8(read("data/manifest.json")?).context("data/manifest.json is not UTF-8")?;
    let f: Vec<Vec<u8>> = ["curated.png", "curated.tsv", "pool.png", "pool.tsv", "test.png", "test.tsv"].iter().map(|n| read(&format!("data/{n}"))).collect::<Result<_>>()?;
    let data = DemoData::from_files(&manifest, [(&f[0], &f[1]), (&f[2], &f[3]), (&f[4], &f[5])], &format!("{}/data", dir.display()))?;
    Ok((data, read("reference.safetensors")?))
}

pub fn demo(a: DemoArgs) -> Result<()> {
    let settings = DemoSettings::from_json(&a.settings)?;
    let (data, reference) = load_assets(&a.assets.unwrap_or_else(|| default_site().join("assets")))?;
    let (be, why) = open(a.backend)?;
    eprintln!("demo session on {why}");
    with_backend!(be, |be| run_demo(be, data, &reference, settings, a.steps, a.json))
}

fn run_demo<B: Backend>(be: B, data: DemoData, reference: &[u8], settings: DemoSettings, steps: usize, json: bool) -> Result<()> {
    let mut s = pollster::block_on(Session::new(be, Rc::new(data), Some(reference), settings))?;
    if let Some(e) = &s.initial_eval {
        eprintln!("step 0  r@1 {:.3} vs uniform {:.3} (the same init)", e.learner.r1, e.uniform.r1);
    }
    let t0 = std::time::Instant::now();
    for _ in 0..steps {
        let r = pollster::block_on(s.step())?;
        if json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            let ev = r.eval.as_ref().map(|e| format!("  r@1 {:.3} vs uniform {:.3}", e.learner.r1, e.uniform.r1)).unwrap_or_default();
            let t = &r.timings_ms;
            eprintln!("step {}  loss {:.3} (uniform {:.3}){ev}  (score {:.0} + sample {:.1} + train {:.0} + uniform {:.0} ms)", r.step, r.loss.learner, r.loss.uniform, t.score, t.sample, t.train, t.uniform_train);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    eprintln!("{steps} steps in {secs:.1} s: {:.2} steps/s (both learners, evaluations included)", steps as f64 / secs);
    Ok(())
}
