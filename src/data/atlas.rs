//! PNG atlases: many small square RGB images tiled in a grid, the on-disk form of the builtin images.

use anyhow::{Context, Result};

/// Tiles per atlas row.
pub const ATLAS_COLUMNS: usize = 64;

/// Encodes `n` images (HWC RGB, `size×size`) as one PNG grid `ATLAS_COLUMNS` tiles wide;
/// unused tiles of the last row are white. Deterministic.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub fn encode_atlas(images: &[u8], size: usize) -> Result<Vec<u8>> {
    let tile = size * size * 3;
    anyhow::ensure!(tile > 0 && images.len().is_multiple_of(tile), "atlas: image bytes not a multiple of {tile}");
    let n = images.len() / tile;
    let cols = ATLAS_COLUMNS;
    let rows = n.div_ceil(cols).max(1);
    let (w, h) = (cols * size, rows * size);
    let mut px = vec![255u8; w * h * 3];
    for i in 0..n {
        let (tx, ty) = ((i % cols) * size, (i / cols) * size);
        let src = &images[i * tile..(i + 1) * tile];
        for y in 0..size {
            let d = ((ty + y) * w + tx) * 3;
            px[d..d + size * 3].copy_from_slice(&src[y * size * 3..(y + 1) * size * 3]);
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::High);
        let mut wr = enc.write_header().context("atlas: writing PNG header")?;
        wr.write_image_data(&px).context("atlas: writing PNG data")?;
        wr.finish().context("atlas: finishing PNG")?;
    }
    Ok(out)
}

/// Decodes an atlas written by [`encode_atlas`] back into `n` images of `size×size`.
pub fn decode_atlas(png_bytes: &[u8], size: usize, n: usize, what: &str) -> Result<Vec<u8>> {
    let (w, h, px) = decode_png_rgb(png_bytes).with_context(|| format!("decoding atlas {what}"))?;
    let cols = ATLAS_COLUMNS;
    anyhow::ensure!(
        w == cols * size && h >= n.div_ceil(cols) * size,
        "atlas {what} is {w}×{h}, too small for {n} images of {size}×{size} in {cols} columns; \
         the data files disagree — rebuild with `jest-wgpu data build`"
    );
    let tile = size * size * 3;
    let mut out = vec![0u8; n * tile];
    for i in 0..n {
        let (tx, ty) = ((i % cols) * size, (i / cols) * size);
        let dst = &mut out[i * tile..(i + 1) * tile];
        for y in 0..size {
            let s = ((ty + y) * w + tx) * 3;
            dst[y * size * 3..(y + 1) * size * 3].copy_from_slice(&px[s..s + size * 3]);
        }
    }
    Ok(out)
}

/// Decodes any 8-bit PNG to RGB (grey, palette and alpha are converted; alpha is composited on white).
pub fn decode_png_rgb(bytes: &[u8]) -> Result<(usize, usize, Vec<u8>)> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().context("not a readable PNG")?;
    let size = reader.output_buffer_size().context("PNG too large")?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).context("PNG data is corrupt or truncated")?;
    let (w, h) = (info.width as usize, info.height as usize);
    buf.truncate(info.buffer_size());
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => buf
            .chunks_exact(4)
            .flat_map(|p| {
                let a = p[3] as u32;
                let c = |v: u8| ((v as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
                [c(p[0]), c(p[1]), c(p[2])]
            })
            .collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g]).collect(),
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| {
                let a = p[1] as u32;
                let g = ((p[0] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
                [g, g, g]
            })
            .collect(),
        png::ColorType::Indexed => anyhow::bail!("indexed PNG was not expanded"),
    };
    anyhow::ensure!(rgb.len() == w * h * 3, "PNG decoded to an unexpected size");
    Ok((w, h, rgb))
}
