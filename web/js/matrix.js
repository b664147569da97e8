// Matrix heatmap: the B×B score / loss matrix on a 2D canvas, ordered by selection, with chunk outlines and a legend.

import { DIVERGING, SEQUENTIAL, lutGradient, chunkColor } from './colors.js';

const KIND_TEXT = {
  learnability: 'learnability A = L_learner − L_ref (gain 1): high = the learner still gets it wrong but the reference gets it right',
  learner: "learner's per-pair sigmoid loss L_learner",
  reference: "reference's per-pair sigmoid loss L_ref",
};

function robustRange(values, signed) {
  const n = values.length;
  const stride = Math.max(1, Math.floor(n / 40000));
  const sample = [];
  for (let i = 0; i < n; i += stride) {
    const v = values[i];
    if (Number.isFinite(v)) sample.push(signed ? Math.abs(v) : v);
  }
  if (!sample.length) return [0, 1];
  sample.sort((a, b) => a - b);
  const q = (p) => sample[Math.min(sample.length - 1, Math.floor(p * (sample.length - 1)))];
  if (signed) {
    const m = q(0.99) || sample[sample.length - 1] || 1;
    return [-m, m];
  }
  const lo = sample[0];
  let hi = q(0.99);
  if (!(hi > lo)) hi = lo + 1;
  return [lo, hi];
}

function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 0.01 || a >= 1000)) return v.toExponential(1);
  return v.toFixed(a < 1 ? 3 : 2);
}

export class MatrixView {
  constructor({ canvas, legend, note, readout }) {
    this.canvas = canvas;
    this.legend = legend;
    this.note = note;
    this.readout = readout;
    this.kind = 'learnability';
    this.mats = null;
    this.order = [];
    this.B = 0;
    this.m = 1;
    this.b = 0;
    this.lit = 0;
    this.shownKind = null;
    this.range = [0, 1];
    this.offscreen = document.createElement('canvas');
    this.baseKey = null; // which (data, kind) the offscreen bitmap holds
    this.version = 0;
    this.onHover = null; // (rowPos|null, colPos|null) => void
    this.describe = (pos) => `#${pos}`;
    canvas.addEventListener('mousemove', (e) => this.hover(e));
    canvas.addEventListener('mouseleave', () => {
      this.readout.textContent = this.defaultReadout();
      if (this.onHover) this.onHover(null, null);
    });
  }

  defaultReadout() {
    return this.mats ? 'Hover the matrix: row = image, column = caption.' : '';
  }

  clear(message) {
    this.mats = null;
    this.lit = 0;
    this.note.textContent = message || '';
    this.readout.textContent = '';
    this.draw();
  }

  /** mats: {learnability, learner, reference} Float32Arrays (B×B, may be empty); selected in chunk order. */
  setData(mats, selected, B, m) {
    this.mats = mats;
    this.B = B;
    this.m = m;
    this.b = selected.length;
    const chosen = new Set(selected);
    const rest = [];
    for (let i = 0; i < B; i++) if (!chosen.has(i)) rest.push(i);
    this.order = [...selected, ...rest];
    this.lit = 0;
    this.version += 1;
    this.readout.textContent = this.defaultReadout();
    this.draw();
  }

  setKind(kind) {
    this.kind = kind;
    this.draw();
  }

  setLit(lit) {
    this.lit = lit;
    this.draw();
  }

  /** The matrix that is actually drawn (learner loss when the chosen one is empty). */
  current() {
    if (!this.mats) return { kind: null, values: null };
    const want = this.mats[this.kind];
    if (want && want.length === this.B * this.B && this.B > 0) return { kind: this.kind, values: want };
    const fallback = this.mats.learner;
    if (fallback && fallback.length === this.B * this.B && this.B > 0) return { kind: 'learner', values: fallback };
    return { kind: null, values: null };
  }

  draw() {
    const canvas = this.canvas;
    const css = Math.max(120, Math.round(canvas.clientWidth || 400));
    const dpr = window.devicePixelRatio || 1;
    const W = Math.round(css * dpr);
    if (canvas.width !== W || canvas.height !== W) {
      canvas.width = W;
      canvas.height = W;
    }
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#101218';
    ctx.fillRect(0, 0, W, W);
    const { kind, values } = this.current();
    this.shownKind = kind;
    if (!values) {
      this.renderLegend(null);
      if (this.mats) this.note.textContent = 'This step produced no matrix.';
      return;
    }
    if (kind !== this.kind) {
      this.note.textContent = `There is no reference model in this run, so the ${this.kind} matrix is empty; showing the learner's loss instead.`;
    } else {
      this.note.textContent = '';
    }
    const B = this.B;
    const signed = kind === 'learnability';
    const lut = signed ? DIVERGING : SEQUENTIAL;
    const key = `${this.version}:${kind}`;
    if (this.baseKey !== key) {
      this.range = robustRange(values, signed);
      this.paintBase(values, lut);
      this.baseKey = key;
    }
    const [lo, hi] = this.range;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.offscreen, 0, 0, W, W);
    // the selected block, one nested square per chunk as it lights up
    const s = W / B;
    const nChunks = this.m > 0 ? Math.round(this.b / this.m) : 0;
    if (this.lit > 0) {
      ctx.setLineDash([4 * dpr, 3 * dpr]);
      ctx.strokeStyle = 'rgba(255,255,255,0.55)';
      ctx.lineWidth = 1 * dpr;
      ctx.strokeRect(0.5, 0.5, this.b * s, this.b * s);
      ctx.setLineDash([]);
    }
    for (let k = 0; k < Math.min(this.lit, nChunks); k++) {
      const e = (k + 1) * this.m * s;
      ctx.strokeStyle = chunkColor(k, nChunks);
      const lw = (k === this.lit - 1 ? 2.5 : 1.5) * dpr;
      ctx.lineWidth = lw;
      ctx.strokeRect(lw / 2, lw / 2, e - lw, e - lw);
    }
    this.renderLegend(kind, lut, lo, hi);
  }

  /** Paint the B×B values, reordered, into the offscreen B×B bitmap. */
  paintBase(values, lut) {
    const B = this.B;
    const [lo, hi] = this.range;
    const img = new ImageData(B, B);
    const px = img.data;
    const span = hi - lo || 1;
    for (let r = 0; r < B; r++) {
      const row = this.order[r] * B;
      for (let c = 0; c < B; c++) {
        const v = values[row + this.order[c]];
        const o = (r * B + c) * 4;
        if (!Number.isFinite(v)) {
          px[o] = px[o + 1] = px[o + 2] = 128;
        } else {
          const k = Math.round(Math.min(1, Math.max(0, (v - lo) / span)) * 255) * 3;
          px[o] = lut[k];
          px[o + 1] = lut[k + 1];
          px[o + 2] = lut[k + 2];
        }
        px[o + 3] = 255;
      }
    }
    this.offscreen.width = B;
    this.offscreen.height = B;
    this.offscreen.getContext('2d').putImageData(img, 0, 0);
  }

  renderLegend(kind, lut, lo, hi) {
    if (!kind) {
      this.legend.replaceChildren();
      return;
    }
    const bar = document.createElement('div');
    bar.className = 'scale-bar';
    bar.style.background = lutGradient(lut);
    const labels = document.createElement('div');
    labels.className = 'scale-labels';
    const mid = kind === 'learnability' ? '0' : fmt((lo + hi) / 2);
    for (const t of [fmt(lo), mid, fmt(hi)]) {
      const span = document.createElement('span');
      span.textContent = t;
      labels.append(span);
    }
    const caption = document.createElement('div');
    caption.className = 'scale-caption';
    caption.textContent = `${KIND_TEXT[kind]} (colours clipped at the 99th percentile)`;
    this.legend.replaceChildren(bar, labels, caption);
  }

  hover(e) {
    const { values } = this.current();
    if (!values) return;
    const rect = this.canvas.getBoundingClientRect();
    const r = Math.floor(((e.clientY - rect.top) / rect.height) * this.B);
    const c = Math.floor(((e.clientX - rect.left) / rect.width) * this.B);
    if (r < 0 || c < 0 || r >= this.B || c >= this.B) return;
    const rowPos = this.order[r];
    const colPos = this.order[c];
    const v = values[rowPos * this.B + colPos];
    const where = (i) => (i < this.b ? `selected, chunk ${Math.floor(i / this.m) + 1}` : 'not selected');
    this.readout.textContent =
      `row ${r + 1}: image ${this.describe(rowPos)} (${where(r)}) · column ${c + 1}: caption ${this.describe(colPos)} (${where(c)}) · ${this.shownKind} = ${fmt(v)}` +
      (rowPos === colPos ? ' (a true pair)' : '');
    if (this.onHover) this.onHover(rowPos, colPos);
  }
}
