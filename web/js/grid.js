// Super-batch grid: B thumbnails (one small canvas each), noise badges, selected cells lit chunk by chunk.

import { noiseInfo, chunkColor, NOISE_KINDS } from './colors.js';

export class Grid {
  /** @param {HTMLElement} root the #grid element; @param data DemoData */
  constructor(root, data) {
    this.root = root;
    this.data = data;
    this.size = data.image_size();
    this.images = new Map(); // pool index -> ImageData
    this.kinds = new Map(); // pool index -> noise kind
    this.captions = new Map(); // pool index -> caption
    this.cells = [];
    this.superBatch = [];
    this.chunkOf = []; // position -> chunk (0-based) or -1
    this.onHover = null;
  }

  imageData(poolIndex) {
    let img = this.images.get(poolIndex);
    if (!img) {
      const rgba = this.data.pool_rgba(poolIndex);
      img = new ImageData(new Uint8ClampedArray(rgba), this.size, this.size); // a copy: never a view of wasm memory
      this.images.set(poolIndex, img);
    }
    return img;
  }

  noise(poolIndex) {
    let kind = this.kinds.get(poolIndex);
    if (kind === undefined) {
      kind = this.data.pool_noise(poolIndex);
      this.kinds.set(poolIndex, kind);
    }
    return kind;
  }

  caption(poolIndex) {
    let text = this.captions.get(poolIndex);
    if (text === undefined) {
      text = this.data.pool_caption(poolIndex);
      this.captions.set(poolIndex, text);
    }
    return text;
  }

  /** Lay out n cells: columns from the available width so the grid stays about 1.6:1. */
  layout(n) {
    const width = Math.max(240, this.root.clientWidth || 560);
    const cols = Math.max(4, Math.ceil(Math.sqrt(n * 1.6)));
    const gap = n > 400 ? 1 : 3;
    const cell = Math.max(8, Math.floor((width - gap * (cols - 1)) / cols));
    this.root.style.gridTemplateColumns = `repeat(${cols}, ${cell}px)`;
    this.root.style.gap = `${gap}px`;
    this.root.style.setProperty('--cell', `${cell}px`);
    this.root.classList.toggle('tiny-cells', cell < 22);
  }

  /** Remove the cells and show a short message instead. */
  clear(text) {
    const p = document.createElement('p');
    p.className = 'grid-empty';
    p.textContent = text;
    this.root.replaceChildren(p);
    this.root.style.gridTemplateColumns = '1fr';
    this.root.classList.remove('has-selection');
    this.cells = [];
    this.superBatch = [];
  }

  relayout() {
    if (this.cells.length) this.layout(this.cells.length);
  }

  ensureCells(n) {
    if (this.cells.length === n) return;
    const cells = [];
    for (let pos = 0; pos < n; pos++) {
      const cell = document.createElement('div');
      cell.className = 'cell';
      cell.dataset.pos = String(pos);
      const canvas = document.createElement('canvas');
      canvas.width = this.size;
      canvas.height = this.size;
      const badge = document.createElement('span');
      badge.className = 'badge';
      const chunk = document.createElement('span');
      chunk.className = 'chunk-no';
      cell.append(canvas, badge, chunk);
      cells.push(cell);
    }
    this.root.replaceChildren(...cells);
    this.cells = cells;
    this.layout(n);
  }

  /** Draw a new super-batch (pool indices), with no selection shown yet. */
  show(superBatch) {
    this.superBatch = superBatch;
    this.ensureCells(superBatch.length);
    superBatch.forEach((poolIndex, pos) => {
      const cell = this.cells[pos];
      const ctx = cell.firstChild.getContext('2d');
      ctx.putImageData(this.imageData(poolIndex), 0, 0);
      const kind = this.noise(poolIndex);
      const info = noiseInfo(kind);
      cell.dataset.kind = kind;
      cell.dataset.pool = String(poolIndex);
      cell.style.setProperty('--noise', info.color || 'transparent');
      cell.classList.toggle('noisy', kind !== 'clean');
      const badge = cell.children[1];
      badge.textContent = info.letter;
      cell.title = `${this.caption(poolIndex)}\n${kind === 'clean' ? 'clean' : 'noise: ' + kind} · pool #${poolIndex} · position ${pos}`;
    });
    this.setSelection([], 1, 0);
  }

  /**
   * Mark the selection: selected = positions in chunk order, m = chunk size; only the first `lit`
   * chunks are shown (the animation raises lit from 0 to N).
   */
  setSelection(selected, m, lit) {
    const n = this.cells.length;
    const nChunks = m > 0 ? Math.ceil(selected.length / m) : 0;
    this.chunkOf = new Array(n).fill(-1);
    selected.forEach((pos, k) => {
      if (pos >= 0 && pos < n) this.chunkOf[pos] = Math.floor(k / m);
    });
    for (let pos = 0; pos < n; pos++) {
      const cell = this.cells[pos];
      const c = this.chunkOf[pos];
      const on = c >= 0 && c < lit;
      cell.classList.toggle('selected', on);
      cell.classList.toggle('latest', on && c === lit - 1);
      if (on) {
        cell.dataset.chunk = String(c + 1);
        cell.style.setProperty('--chunk', chunkColor(c, nChunks));
        cell.children[2].textContent = String(c + 1);
      } else {
        delete cell.dataset.chunk;
        cell.children[2].textContent = '';
      }
    }
    this.root.classList.toggle('has-selection', lit > 0);
  }

  /** Outline the cells of matrix row/column positions (or clear with nulls). */
  highlight(rowPos, colPos) {
    for (const cell of this.root.querySelectorAll('.hover-row, .hover-col')) {
      cell.classList.remove('hover-row', 'hover-col');
    }
    if (rowPos !== null && this.cells[rowPos]) this.cells[rowPos].classList.add('hover-row');
    if (colPos !== null && this.cells[colPos]) this.cells[colPos].classList.add('hover-col');
  }
}

/** Fill the legend element with one entry per noise kind. */
export function renderNoiseLegend(el) {
  const items = Object.entries(NOISE_KINDS).map(([kind, info]) => {
    const item = document.createElement('span');
    item.className = 'legend-item';
    item.title = info.text;
    const sw = document.createElement('span');
    sw.className = 'swatch noise-swatch';
    if (info.color) {
      sw.style.borderColor = info.color;
      sw.style.background = info.color;
      sw.textContent = info.letter;
    }
    item.append(sw, document.createTextNode(kind.replace('_', ' ')));
    return item;
  });
  const sel = document.createElement('span');
  sel.className = 'legend-item';
  sel.title = 'chosen for training; the number is its chunk';
  const sw = document.createElement('span');
  sw.className = 'swatch selected-swatch';
  sw.textContent = '1';
  sel.append(sw, document.createTextNode('selected (chunk no.)'));
  el.replaceChildren(...items, sel);
}
