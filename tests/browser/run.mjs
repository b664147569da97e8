// Headless-Chromium check of the browser demo: plays N steps, checks the grid and matrix, prints one JSON line.
//
// usage: node tests/browser/run.mjs --url http://127.0.0.1:8080/ --mode webgpu|nogpu|badurl|lost [--steps 20] [--out DIR]
//        [--timeout 300] [--chromium /usr/bin/chromium]
// webgpu: Chromium with WebGPU on SwiftShader (the flags below, measured to give headless Chromium WebGPU on a machine without a GPU); nogpu: no WebGPU flags (the page must fall
// back to the CPU path); badurl: the WebGPU flags and an invalid query (f=1.5&chunks=0&method=foo): the page must
// say what is wrong and run the defaults; lost: the WebGPU flags, plays without a stop, destroys the GPU device after
// 2 steps (window.__jest.loseDevice) and expects the error with a restart button, a live tab and a working restart
// (tests/browser/lost.mjs; screenshot DIR/lost.png while the error shows). Never downloads a browser: it drives the
// system Chromium.
// Exit: 0 when it got through (the caller asserts on the JSON), 1 the page failed or stopped with errors, 2 timed out,
// 3 the browser crashed or hung, 64 bad arguments; the JSON line is printed in every case but 64.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { runLost, LOST_KEYS } from './lost.mjs';

function parseArgs(argv) {
  const opts = { url: null, mode: 'webgpu', steps: 20, out: '.', timeout: 300, chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    const value = argv[i + 1];
    const need = () => {
      if (value === undefined) throw new Error(`${key} needs a value`);
      i += 1;
      return value;
    };
    if (key === '--url') opts.url = need();
    else if (key === '--mode') opts.mode = need();
    else if (key === '--steps') opts.steps = Number(need());
    else if (key === '--out') opts.out = need();
    else if (key === '--timeout') opts.timeout = Number(need());
    else if (key === '--chromium') opts.chromium = need();
    else if (key === '--help' || key === '-h') {
      process.stderr.write('usage: node tests/browser/run.mjs --url URL --mode webgpu|nogpu|badurl|lost [--steps 20] [--out DIR] [--timeout 300]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${key}`);
  }
  if (!opts.url) throw new Error('--url is required');
  if (!['webgpu', 'nogpu', 'badurl', 'lost'].includes(opts.mode)) throw new Error(`--mode must be webgpu, nogpu, badurl or lost (got ${opts.mode})`);
  if (!Number.isInteger(opts.steps) || opts.steps < 1) throw new Error(`--steps must be a positive integer (got ${opts.steps})`);
  if (!(opts.timeout > 0)) throw new Error(`--timeout must be positive seconds (got ${opts.timeout})`);
  return opts;
}

const COMMON_FLAGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
// WebGPU on SwiftShader (Vulkan), as measured on machines without a GPU. Playwright passes its own --enable-features
// earlier on the command line and Chromium keeps only the last one, so its two features are repeated here.
const WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan,CDPScreenshotNewSurface,SkipListAccountsWithoutGaiaCookies',
  '--use-vulkan=swiftshader',
  '--use-angle=swiftshader',
];

const log = (msg) => process.stderr.write(`[browser] ${msg}\n`);

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(64);
  }
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const result = {
    mode: opts.mode, backend: null, adapter: null, fallback: null, fallback_banner_visible: null, steps: 0,
    first_step: null, r1_learner: [], r1_uniform: [], cells: 0, selected_cells: 0, matrix_nonblank: false,
    console_errors: [], url_error: null, ...(opts.mode === 'lost' ? { ...LOST_KEYS } : {}),
  };
  const extra = { console_warnings: [], page_errors: [], errors: [], settings: null, defaults_used: null, super_batch: null, batch: null };
  let failure = null;
  let failureCode = 1; // 1: the page failed or reported errors, 2: timed out, 3: the browser crashed or hung

  const url = new URL(opts.url);
  if (opts.mode === 'badurl') {
    url.searchParams.set('f', '1.5');
    url.searchParams.set('chunks', '0');
    url.searchParams.set('method', 'foo');
  }
  url.searchParams.set('play', '1');
  if (opts.mode !== 'lost') url.searchParams.set('stop', String(opts.steps));
  url.searchParams.set('tour', '0');

  fs.mkdirSync(opts.out, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jest-wgpu-chromium-'));
  const args = [...(opts.mode === 'nogpu' ? [] : WEBGPU_FLAGS), ...COMMON_FLAGS];
  log(`${opts.mode}: ${opts.chromium} ${args.join(' ')}`);
  log(`${opts.mode}: opening ${url.href}`);

  async function collect(page) {
    const seen = await page.evaluate(() => {
      const j = window.__jest;
      if (!j) return null;
      const visible = (el) => {
        if (!el || el.hidden) return false;
        const style = getComputedStyle(el);
        const box = el.getBoundingClientRect();
        return style.display !== 'none' && style.visibility !== 'hidden' && box.width > 0 && box.height > 0;
      };
      const canvas = document.getElementById('matrix');
      let nonblank = 0;
      if (canvas && canvas.width && canvas.height) {
        const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const r0 = px[0];
        const g0 = px[1];
        const b0 = px[2];
        for (let i = 0; i < px.length; i += 4) {
          if (px[i + 3] && Math.abs(px[i] - r0) + Math.abs(px[i + 1] - g0) + Math.abs(px[i + 2] - b0) > 24) nonblank += 1;
        }
      }
      const sameAsDefaults = j.defaults && j.settings
        ? Object.keys(j.defaults).every((k) => {
          const a = j.defaults[k];
          const b = j.settings[k];
          // f32 settings may come back widened (0.003 vs 0.003000000026077032)
          return typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a)) : a === b;
        })
        : null;
      return {
        backend: j.backend, adapter: j.adapter, fallback: j.fallback, steps: j.steps, firstStep: j.firstStep,
        r1: j.r1, urlError: j.urlError, errors: j.errors, settings: j.settings, sameAsDefaults,
        timings: j.timings || [],
        banner: visible(document.getElementById('fallback-banner')),
        cells: document.querySelectorAll('#grid .cell').length,
        selected: document.querySelectorAll('#grid .cell.selected').length,
        nonblank,
        scrollWidth: document.documentElement.scrollWidth,
        clientWidth: document.documentElement.clientWidth,
      };
    });
    if (!seen) return;
    Object.assign(result, {
      backend: seen.backend, adapter: seen.adapter, fallback: seen.fallback, fallback_banner_visible: seen.banner,
      steps: seen.steps, first_step: seen.firstStep, r1_learner: seen.r1.learner, r1_uniform: seen.r1.uniform,
      cells: seen.cells, selected_cells: seen.selected, matrix_nonblank: seen.nonblank > 0, url_error: seen.urlError,
    });
    // mean ms per phase over the steps after the first (which compiles the pipelines)
    const later = seen.timings.slice(1);
    const mean = (k) => (later.length ? Number((later.reduce((a, t) => a + t[k], 0) / later.length).toFixed(1)) : null);
    Object.assign(extra, {
      timings_ms_mean: Object.fromEntries(['score', 'sample', 'train', 'uniform_train', 'step'].map((k) => [k, mean(k)])),
      errors: seen.errors, settings: seen.settings, defaults_used: seen.sameAsDefaults,
      super_batch: seen.settings ? seen.settings.super_batch : null, batch: seen.settings ? seen.settings.batch : null,
      matrix_nonblank_pixels: seen.nonblank, horizontal_scroll: seen.scrollWidth > seen.clientWidth,
    });
  }

  let context = null;
  let page = null;
  // a hung browser must not hang the test: hard stop a minute after the step timeout
  const hardStop = setTimeout(() => {
    process.stderr.write(`[browser] ${opts.mode}: hard timeout, giving up\n`);
    process.stdout.write(JSON.stringify({ ...result, ...extra, ok: false, failure: 'hard timeout (browser hung)', elapsed_s: elapsed() }) + '\n');
    process.exit(3);
  }, (opts.timeout + 90) * 1000);
  hardStop.unref();

  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: opts.chromium,
      headless: true,
      args,
      viewport: { width: 1280, height: 800 },
    });
    page = context.pages()[0] || (await context.newPage());
    page.on('console', (msg) => {
      const where = msg.location();
      const text = `${msg.text()}${where && where.url ? ` (${where.url}:${where.lineNumber})` : ''}`;
      if (msg.type() === 'error') result.console_errors.push(text);
      else if (msg.type() === 'warning') extra.console_warnings.push(text);
    });
    page.on('pageerror', (err) => {
      const text = `page error: ${err.message}`;
      result.console_errors.push(text);
      extra.page_errors.push(err.message);
    });
    let crashed = false;
    page.on('crash', () => {
      crashed = true;
    });

    // 'commit', not 'load': the page's own readiness (window.__jest) is what the loop below waits for
    await page.goto(url.href, { waitUntil: 'commit', timeout: 60000 });

    // wait for N steps (and the end of their drawing), printing progress
    const deadline = Date.now() + opts.timeout * 1000;
    const waitSteps = async (want, idle = true) => {
      let lastReport = 0;
      let stuck = 0;
      let state = null;
      for (;;) {
        if (crashed) {
          failureCode = 3;
          throw new Error('the page crashed');
        }
        state = await page.evaluate(() => {
          const j = window.__jest;
          if (!j) return null;
          return { ready: j.ready, steps: j.steps, busy: j.busy, playing: j.playing, errors: j.errors.slice(), backend: j.backend };
        });
        if (state && state.steps >= want && (!idle || !state.busy)) break;
        if (state && state.errors.length && !state.playing && !state.busy && state.steps < want) {
          stuck += 1;
          if (stuck >= 3) throw new Error(`the page stopped with errors after ${state.steps} steps: ${state.errors.join(' | ')}`);
        } else stuck = 0;
        if (Date.now() > deadline) {
          failureCode = 2;
          throw new Error(`timed out after ${opts.timeout} s waiting for ${want} steps (at ${state ? state.steps : 'no __jest'}, ready=${state && state.ready})`);
        }
        if (Date.now() - lastReport > 5000) {
          lastReport = Date.now();
          log(`${opts.mode}: ${elapsed().toFixed(0)} s: ${state ? `ready=${state.ready} backend=${state.backend} steps ${state.steps}/${want}` : 'page loading'}`);
        }
        await new Promise((res) => setTimeout(res, 500));
      }
      log(`${opts.mode}: ${state.steps} steps after ${elapsed().toFixed(1)} s`);
    };

    if (opts.mode === 'lost') {
      try {
        await runLost(page, { log, result, waitSteps, out: opts.out, crashed: () => crashed });
      } catch (e) {
        if (e.code) failureCode = e.code;
        throw e;
      }
    } else await waitSteps(opts.steps);

    if (opts.mode === 'nogpu') {
      // an edit that is not applied leaves the address bar and the share link on the running settings
      result.edit_probe = await page.evaluate(() => {
        const form = document.getElementById('controls');
        const share = () => document.getElementById('share-link').getAttribute('href');
        const before = { url: window.location.search, share: share() };
        form.elements.f.value = '0.97';
        form.elements.f.dispatchEvent(new Event('input', { bubbles: true }));
        return { before, after: { url: window.location.search, share: share() }, pending: !document.getElementById('pending').hidden };
      });
    }

    await collect(page);
    const shot = path.join(opts.out, `${opts.mode === 'lost' ? 'lost-restarted' : opts.mode}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    log(`${opts.mode}: screenshot ${shot}`);
  } catch (e) {
    failure = e && e.message ? e.message : String(e);
    log(`${opts.mode}: FAILED: ${failure}`);
    if (page) {
      // still report what the page got to, and keep a screenshot for the post-mortem
      const within = (p) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('no answer')), 10000))]);
      await within(collect(page)).catch((err) => log(`${opts.mode}: could not read the page: ${err.message}`));
      await within(page.screenshot({ path: path.join(opts.out, `${opts.mode === 'lost' ? 'lost-failed' : opts.mode}.png`), fullPage: true })).catch(() => {});
    }
  } finally {
    if (context) {
      await Promise.race([context.close().catch(() => {}), new Promise((res) => setTimeout(res, 10000))]);
    }
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify({ ...result, ...extra, ok: !failure, failure, elapsed_s: Number(elapsed().toFixed(1)) }) + '\n');
  clearTimeout(hardStop);
  process.exit(failure ? failureCode : 0);
}

main();
