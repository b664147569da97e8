//! SVG → small RGB raster with resvg (no system fonts), composited on white; blank detection.

use anyhow::{Context, Result};
use resvg::{tiny_skia, usvg};

/// Renders an SVG document to `size×size` RGB (HWC), fitted with its aspect kept, centred, on white.
/// Only what the document holds is drawn: an `<image>` that names a file or URL is skipped (a
/// hostile href could name /dev/zero, a FIFO or any file of the user's); data: URLs still work.
pub fn render_svg(svg: &[u8], size: usize) -> Result<Vec<u8>> {
    let mut opt = usvg::Options::default();
    opt.image_href_resolver.resolve_string = Box::new(|_, _| None);
    let tree = usvg::Tree::from_data(svg, &opt).context("SVG could not be parsed")?;
    let ts = tree.size();
    let (w, h) = (ts.width(), ts.height());
    anyhow::ensure!(w > 0.0 && h > 0.0, "SVG has an empty size");
    let s = size as f32 / w.max(h);
    let tx = (size as f32 - w * s) / 2.0;
    let ty = (size as f32 - h * s) / 2.0;
    let mut pixmap = tiny_skia::Pixmap::new(size as u32, size as u32).context("pixmap allocation")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::from_row(s, 0.0, 0.0, s, tx, ty), &mut pixmap.as_mut());
    // Premultiplied RGBA over an opaque white background: alpha is 255 everywhere.
    Ok(pixmap.data().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect())
}

/// True when an image carries (almost) nothing: under 1% of pixels differ from white by more
/// than 24 levels, or the whole image is one flat colour (per-channel spread under 6 levels).
pub fn is_blank(rgb: &[u8]) -> bool {
    let n = rgb.len() / 3;
    if n == 0 {
        return true;
    }
    let inked = rgb.chunks_exact(3).filter(|p| p.iter().any(|&v| v < 231)).count();
    if inked * 100 < n {
        return true;
    }
    (0..3).all(|c| {
        let (mut lo, mut hi) = (255u8, 0u8);
        for p in rgb.chunks_exact(3) {
            lo = lo.min(p[c]);
            hi = hi.max(p[c]);
        }
        hi - lo < 6
    })
}

/// A near-blank "ghost" of an image: its contrast to white cut to `alpha` (0..1).
pub fn ghost(rgb: &[u8], alpha: f32) -> Vec<u8> {
    rgb.iter().map(|&v| (255.0 - (255.0 - v as f32) * alpha).round() as u8).collect()
}
