//! Contact sheets: thumbnails with captions and noise-kind colour bars, as a PNG (no system fonts).

use super::font::{draw_text, wrap, CELL_W, LINE_H};
use super::{Dataset, NoiseKind};
use anyhow::{Context, Result};
use std::path::Path;

/// Colour of each noise kind's bar (clean is green, injected noise warm, natural noise cool).
pub fn noise_colour(k: NoiseKind) -> [u8; 3] {
    match k {
        NoiseKind::Clean => [40, 160, 60],
        NoiseKind::Mismatched => [220, 40, 40],
        NoiseKind::Blank => [150, 150, 150],
        NoiseKind::Generic => [240, 150, 20],
        NoiseKind::Boilerplate => [130, 70, 200],
        NoiseKind::NearDuplicate => [40, 110, 220],
        NoiseKind::Slug => [200, 60, 170],
    }
}

const SCALE: usize = 3;
const COLS_TEXT: usize = 16;
const TEXT_LINES: usize = 4;

/// Renders the items `idx` of `ds` as a grid `columns` wide: each cell is the image scaled ×3,
/// a bar coloured by noise kind, the noise kind, and the caption wrapped to four lines, under
/// `title` and a legend. Returns PNG bytes.
pub fn contact_sheet(ds: &Dataset, idx: &[usize], columns: usize, title: &str) -> Result<Vec<u8>> {
    anyhow::ensure!(!idx.is_empty(), "nothing to preview: {} has no items", ds.name);
    let s = ds.image_size;
    let thumb = s * SCALE;
    let cell_w = (thumb.max(COLS_TEXT * CELL_W)) + 8;
    let cell_h = thumb + 4 + (TEXT_LINES + 1) * LINE_H + 8;
    let cols = columns.clamp(1, idx.len());
    let rows = idx.len().div_ceil(cols);
    let header = LINE_H * 2 + 4;
    let (w, h) = (cols * cell_w + 8, rows * cell_h + header + 8);
    let mut px = vec![255u8; w * h * 3];
    draw_text(&mut px, w, 6, 4, w, title, [0, 0, 0]);
    let mut lx = 6;
    for k in NoiseKind::ALL {
        let label = k.as_str();
        fill(&mut px, w, lx, 4 + LINE_H, 7, 7, noise_colour(k));
        draw_text(&mut px, w, lx + 9, 4 + LINE_H, w, label, [0, 0, 0]);
        lx += 9 + (label.len() + 2) * CELL_W;
    }
    for (n, &i) in idx.iter().enumerate() {
        anyhow::ensure!(i < ds.len(), "preview index {i} out of range ({} items)", ds.len());
        let (x0, y0) = (8 + (n % cols) * cell_w, header + 4 + (n / cols) * cell_h);
        let img = ds.image(i);
        for y in 0..thumb {
            for x in 0..thumb {
                let sp = ((y / SCALE) * s + x / SCALE) * 3;
                let o = ((y0 + y) * w + x0 + x) * 3;
                px[o..o + 3].copy_from_slice(&img[sp..sp + 3]);
            }
        }
        // A thin frame so white-background thumbnails stand out.
        frame(&mut px, w, x0, y0, thumb, thumb, [200, 200, 200]);
        let col = noise_colour(ds.noise[i]);
        fill(&mut px, w, x0, y0 + thumb + 1, thumb, 3, col);
        let ty = y0 + thumb + 6;
        draw_text(&mut px, w, x0, ty, cell_w - 8, &format!("{} {}", ds.noise[i], ds.style_name(i)), col);
        for (l, line) in wrap(&ds.captions[i], COLS_TEXT, TEXT_LINES).iter().enumerate() {
            draw_text(&mut px, w, x0, ty + (l + 1) * LINE_H, cell_w - 8, line, [20, 20, 20]);
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().context("contact sheet: PNG header")?;
        wr.write_image_data(&px).context("contact sheet: PNG data")?;
        wr.finish().context("contact sheet: PNG end")?;
    }
    Ok(out)
}

/// Writes a contact sheet of `idx` to `out` (atomically).
pub fn write_contact_sheet(ds: &Dataset, idx: &[usize], columns: usize, out: &Path) -> Result<()> {
    let bytes = contact_sheet(ds, idx, columns, &format!("{}: {} of {} items", ds.name, idx.len(), ds.len()))?;
    crate::util::write_atomic(out, &bytes)
}

fn fill(px: &mut [u8], w: usize, x: usize, y: usize, fw: usize, fh: usize, rgb: [u8; 3]) {
    let h = px.len() / 3 / w;
    for yy in y..(y + fh).min(h) {
        for xx in x..(x + fw).min(w) {
            let o = (yy * w + xx) * 3;
            px[o..o + 3].copy_from_slice(&rgb);
        }
    }
}

fn frame(px: &mut [u8], w: usize, x: usize, y: usize, fw: usize, fh: usize, rgb: [u8; 3]) {
    if x == 0 || y == 0 {
        return;
    }
    fill(px, w, x - 1, y - 1, fw + 2, 1, rgb);
    fill(px, w, x - 1, y + fh, fw + 2, 1, rgb);
    fill(px, w, x - 1, y - 1, 1, fh + 2, rgb);
    fill(px, w, x + fw, y - 1, 1, fh + 2, rgb);
}
