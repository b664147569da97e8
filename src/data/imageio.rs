//! Decodes user images (PNG, JPEG, SVG) of any size to square RGB: centre crop, then resize.

use super::render::render_svg;
use anyhow::Result;
use image::imageops::FilterType;

/// Image formats recognised by file extension (lowercase).
pub const IMAGE_EXTS: [&str; 4] = ["png", "jpg", "jpeg", "svg"];

/// Decodes `bytes` (format chosen by `ext`) to `size×size` RGB. Raster images are composited on
/// white, centre-cropped to a square (the shorter side is kept whole) and resized with a
/// triangle filter; SVGs are rendered fitted and centred on white (as the builtin data is).
pub fn decode_to_square(bytes: &[u8], ext: &str, size: usize) -> Result<Vec<u8>> {
    anyhow::ensure!(!bytes.is_empty(), "the image file is empty (0 bytes)");
    let ext = ext.to_ascii_lowercase();
    if ext == "svg" {
        return render_svg(bytes, size);
    }
    let fmt = match ext.as_str() {
        "png" => image::ImageFormat::Png,
        "jpg" | "jpeg" => image::ImageFormat::Jpeg,
        other => anyhow::bail!("unsupported image type `.{other}` (use png, jpg or svg)"),
    };
    // the image crate's error repeats its cause in its source: keep the message once
    let img = image::load_from_memory_with_format(bytes, fmt).map_err(|e| match e {
        // the decoder's memory limit: a huge declared size (a decompression bomb), not damage
        image::ImageError::Limits(_) => anyhow::anyhow!("image too large to decode ({e}): its declared size needs more memory than an image may take; shrink it"),
        e => anyhow::anyhow!("corrupt or truncated image: {e}"),
    })?;
    let rgba = img.to_rgba8();
    let (w, h) = rgba.dimensions();
    anyhow::ensure!(w > 0 && h > 0, "image has zero size");
    let side = w.min(h);
    let (x0, y0) = ((w - side) / 2, (h - side) / 2);
    let crop = image::imageops::crop_imm(&rgba, x0, y0, side, side).to_image();
    let resized = if side as usize == size {
        crop
    } else {
        image::imageops::resize(&crop, size as u32, size as u32, FilterType::Triangle)
    };
    Ok(resized
        .pixels()
        .flat_map(|p| {
            let a = p[3] as u32;
            let c = |v: u8| ((v as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
            [c(p[0]), c(p[1]), c(p[2])]
        })
        .collect())
}
