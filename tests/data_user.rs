//! The user's own data: folders with captions.tsv/.csv, WebDataset shards, and every kind of bad input.

use jest_wgpu::data::{load_user, load_user_with, LoadOptions};
use std::path::Path;

/// A w×h PNG whose left, middle and right thirds are blue, red and green.
fn png_thirds(w: u32, h: u32) -> Vec<u8> {
    let mut px = Vec::new();
    for _ in 0..h {
        for x in 0..w {
            px.extend_from_slice(if x < w / 3 { &[0, 0, 255] } else if x < 2 * w / 3 { &[255, 0, 0] } else { &[0, 255, 0] });
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap().write_image_data(&px).unwrap();
    out
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 5) as u8, (y * 5) as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

const SVG: &[u8] = b"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 10 10\"><rect width=\"10\" height=\"10\" fill=\"#00f\"/></svg>";

fn folder(dir: &Path, captions_name: &str, captions: &str) {
    std::fs::create_dir_all(dir.join("img")).unwrap();
    std::fs::write(dir.join("img/wide.png"), png_thirds(60, 20)).unwrap();
    std::fs::write(dir.join("photo.jpg"), jpeg(50, 40)).unwrap();
    std::fs::write(dir.join("icon.svg"), SVG).unwrap();
    std::fs::write(dir.join(captions_name), captions).unwrap();
}

fn err(r: anyhow::Result<impl std::fmt::Debug>) -> String {
    format!("{:#}", r.expect_err("expected an error"))
}

/// Appends a raw tar entry without the tar crate's path checks (to build hostile shards).
fn raw_entry(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn shard(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, d) in entries {
        raw_entry(&mut out, n, d);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
fn folder_with_tsv_and_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    folder(&a, "captions.tsv", "filename\tcaption\nimg/wide.png\ta wide red picture\nphoto.jpg\ta photo\nicon.svg\ta blue square\n");
    let ds = load_user(&a, 32).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(ds.len(), 3);
    assert_eq!(ds.captions, ["a wide red picture", "a photo", "a blue square"]);
    assert_eq!(ds.images.len(), 3 * 32 * 32 * 3);
    // Centre crop: the middle (red) third of the 60×20 image fills the square.
    let px = ds.image(0);
    let red = px.chunks_exact(3).filter(|p| p[0] > 200 && p[1] < 60 && p[2] < 60).count();
    assert!(red >= 32 * 30, "centre crop keeps the red middle: {red} red pixels");
    assert!(ds.image(2).chunks_exact(3).all(|p| p[2] > 200 && p[0] < 30), "svg rendered blue");
    assert!(ds.noise.iter().all(|k| k.as_str() == "clean") && ds.label.iter().all(|&l| l == u32::MAX));
    ds.validate().unwrap();

    let b = tmp.path().join("b");
    folder(&b, "captions.csv", "file,caption\r\nimg/wide.png,\"red, wide, \"\"quoted\"\"\"\r\nphoto.jpg,a photo\r\nicon.svg,\"two\nlines\"\r\n");
    let ds = load_user(&b, 16).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(ds.captions, ["red, wide, \"quoted\"", "a photo", "two lines"]);
    assert_eq!(ds.image_size, 16);
    // The captions file itself can be named.
    assert_eq!(load_user(&b.join("captions.csv"), 16).unwrap().len(), 3);
}

#[test]
fn webdataset_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shards");
    std::fs::create_dir_all(&dir).unwrap();
    let (p, j) = (png_thirds(30, 30), jpeg(64, 64));
    std::fs::write(dir.join("shard-000.tar"), shard(&[("x/a.png", &p), ("x/a.txt", b"first"), ("b.jpg", &j), ("b.txt", b"second"), ("b.json", b"{}")])).unwrap();
    std::fs::write(dir.join("shard-001.tar"), shard(&[("c.txt", b"third"), ("c.svg", SVG)])).unwrap();
    let one = load_user(&dir.join("shard-000.tar"), 32).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(one.captions, ["first", "second"]);
    assert_eq!(one.key, ["shard-000.tar:x/a", "shard-000.tar:b"]);
    let all = load_user(&dir, 32).unwrap();
    assert_eq!(all.captions, ["first", "second", "third"]);
}

#[test]
fn corrupt_image_is_named_or_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    folder(&a, "captions.tsv", "filename\tcaption\nimg/wide.png\twide\nphoto.jpg\tphoto\nicon.svg\ticon\n");
    let full = jpeg(50, 40);
    std::fs::write(a.join("photo.jpg"), &full[..full.len() / 3]).unwrap();
    let msg = err(load_user(&a, 32));
    assert!(msg.contains("photo.jpg") && msg.contains("line 3") && msg.contains("--skip-bad"), "{msg}");
    std::fs::write(a.join("img/wide.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let (ds, rep) = load_user_with(&a, 32, &LoadOptions { skip_bad: true }).unwrap();
    assert_eq!((ds.len(), rep.loaded, rep.skipped.len()), (1, 1, 2));
    assert!(rep.skipped.iter().any(|s| s.contains("wide.png")), "{:?}", rep.skipped);
    std::fs::write(a.join("icon.svg"), b"<svg").unwrap();
    let msg = err(load_user_with(&a, 32, &LoadOptions { skip_bad: true }));
    assert!(msg.contains("no usable items") && msg.contains("3 skipped"), "{msg}");
}

#[test]
fn hostile_tar_entries_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let inner = tmp.path().join("inner");
    std::fs::create_dir_all(&inner).unwrap();
    let p = png_thirds(8, 8);
    for bad in ["../evil.png", "/abs/evil.png", "ok/../../evil.png"] {
        let s = inner.join("s.tar");
        std::fs::write(&s, shard(&[("a.png", &p), ("a.txt", b"fine"), (bad, &p)])).unwrap();
        let msg = err(load_user(&s, 32));
        assert!(msg.contains("refusing") && msg.contains(bad) && msg.contains("s.tar"), "{msg}");
    }
    assert!(!tmp.path().join("evil.png").exists() && !inner.join("evil.png").exists());
    assert_eq!(std::fs::read_dir(&inner).unwrap().count(), 1, "nothing extracted");
}

#[test]
fn bad_captions_and_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |name: &str| tmp.path().join(name);
    // Empty caption, non-UTF-8 caption (tsv and tar), missing image.
    folder(&t("empty"), "captions.tsv", "filename\tcaption\nphoto.jpg\t   \n");
    let msg = err(load_user(&t("empty"), 32));
    assert!(msg.contains("captions.tsv line 2") && msg.contains("caption is empty"), "{msg}");
    folder(&t("latin1"), "captions.tsv", "");
    std::fs::write(t("latin1").join("captions.tsv"), b"filename\tcaption\nphoto.jpg\tcaf\xe9\n").unwrap();
    let msg = err(load_user(&t("latin1"), 32));
    assert!(msg.contains("captions.tsv line 2") && msg.contains("UTF-8"), "{msg}");
    let p = png_thirds(8, 8);
    std::fs::write(t("nonutf8.tar"), shard(&[("a.png", &p), ("a.txt", b"caf\xe9")])).unwrap();
    let msg = err(load_user(&t("nonutf8.tar"), 32));
    assert!(msg.contains("nonutf8.tar") && msg.contains("UTF-8"), "{msg}");
    std::fs::write(t("twice.tar"), shard(&[("a.png", &p), ("a.txt", b"one"), ("a.jpg", &p)])).unwrap();
    let msg = err(load_user(&t("twice.tar"), 32));
    assert!(msg.contains("twice.tar") && msg.contains("key `a` has two images"), "{msg}");
    std::fs::write(t("nocap.tar"), shard(&[("a.png", &p)])).unwrap();
    assert!(err(load_user(&t("nocap.tar"), 32)).contains("no .txt caption"));
    folder(&t("missing"), "captions.csv", "filename,caption\nphoto.jpg,ok\ngone.png,where\n");
    let msg = err(load_user(&t("missing"), 32));
    assert!(msg.contains("gone.png") && msg.contains("line 3") && msg.contains("not found"), "{msg}");
    folder(&t("escape"), "captions.csv", "filename,caption\n../photo.jpg,up\n");
    assert!(err(load_user(&t("escape"), 32)).contains("relative path inside"));
    // Header-less and ragged CSV.
    folder(&t("nohead"), "captions.csv", "photo.jpg,a photo\n");
    let msg = err(load_user(&t("nohead"), 32));
    assert!(msg.contains("captions.csv line 1") && msg.contains("header"), "{msg}");
    folder(&t("ragged"), "captions.csv", "filename,caption\nphoto.jpg,a photo\nicon.svg,a,b\n");
    let msg = err(load_user(&t("ragged"), 32));
    assert!(msg.contains("captions.csv line 3") && msg.contains("found 3"), "{msg}");
    folder(&t("unclosed"), "captions.csv", "filename,caption\nphoto.jpg,\"open\n");
    assert!(err(load_user(&t("unclosed"), 32)).contains("never closed"));
    // Zero-byte and truncated shards, empty folder, both captions files.
    std::fs::write(t("zero.tar"), b"").unwrap();
    let msg = err(load_user(&t("zero.tar"), 32));
    assert!(msg.contains("zero.tar") && msg.contains("0 bytes"), "{msg}");
    let full = shard(&[("a.png", &p), ("a.txt", b"x")]);
    std::fs::write(t("cut.tar"), &full[..700]).unwrap();
    let msg = err(load_user(&t("cut.tar"), 32));
    assert!(msg.contains("cut.tar"), "{msg}");
    std::fs::create_dir_all(t("nothing")).unwrap();
    assert!(err(load_user(&t("nothing"), 32)).contains("no captions.tsv"));
    folder(&t("both"), "captions.csv", "filename,caption\n");
    std::fs::write(t("both").join("captions.tsv"), "filename\tcaption\n").unwrap();
    assert!(err(load_user(&t("both"), 32)).contains("both"));
    assert!(err(load_user(&t("does-not-exist"), 32)).contains("does not exist"));
}

#[test]
fn hostile_sizes_files_and_hrefs_are_refused_without_reading_them() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |name: &str| tmp.path().join(name);
    let p = png_thirds(8, 8);
    // a tar entry declaring 2^40 bytes (base-256 size field): refused before any allocation
    let mut huge = shard(&[("a.png", &p), ("a.txt", b"fine")]);
    let mut h = tar::Header::new_gnu();
    h.set_path("b.png").unwrap();
    h.set_size(1 << 40);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let at = huge.len() - 1024; // before the end-of-archive blocks
    huge.splice(at..at, h.as_bytes().iter().copied());
    std::fs::write(t("huge.tar"), &huge).unwrap();
    let msg = err(load_user(&t("huge.tar"), 32));
    assert!(msg.contains("b.png") && msg.contains("declares 1099511627776 bytes"), "{msg}");
    // a gzip file named .tar, and a tar whose header is garbage: no raw bytes on the terminal
    std::fs::write(t("gz.tar"), [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]).unwrap();
    assert!(err(load_user(&t("gz.tar"), 32)).contains("gzip-compressed"));
    let mut garbage = vec![0x1bu8; 512];
    garbage[100..109].copy_from_slice(b"\x1b[31m\xff\xfe\x07\x08");
    std::fs::write(t("garbage.tar"), [&garbage[..], &[0u8; 1024][..]].concat()).unwrap();
    let msg = err(load_user(&t("garbage.tar"), 32));
    assert!(msg.contains("garbage.tar") && !msg.chars().any(|c| c.is_control() && c != '\n'), "{msg:?}");
    // an SVG whose <image> names a file: drawn without it (never read), so the icon is white
    folder(&t("href"), "captions.csv", "filename,caption\nicon.svg,an icon\nphoto.jpg,a photo\n");
    let secret = t("secret.png");
    std::fs::write(&secret, png_thirds(10, 10)).unwrap();
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" viewBox=\"0 0 10 10\"><image width=\"10\" height=\"10\" xlink:href=\"{}\"/></svg>",
        secret.display()
    );
    std::fs::write(t("href").join("icon.svg"), svg).unwrap();
    let ds = load_user(&t("href"), 32).unwrap();
    assert_eq!(ds.captions[0], "an icon");
    assert!(ds.images[..32 * 32 * 3].iter().all(|&v| v == 255), "the external file must not be drawn");
    // a FIFO in place of an image: refused at once instead of waiting on it forever
    #[cfg(unix)]
    {
        folder(&t("fifo"), "captions.csv", "filename,caption\npipe.png,a pipe\n");
        let fifo = t("fifo").join("pipe.png");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let msg = err(load_user(&t("fifo"), 32));
        assert!(msg.contains("pipe.png") && msg.contains("not a regular file"), "{msg}");
    }
}

/// An image listed twice, a folder of compressed shards, and a FIFO where the captions file or a
/// shard should be: each a clear error naming the file, never a partial load or a hang.
#[test]
fn duplicates_compressed_shards_and_fifos_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |name: &str| tmp.path().join(name);
    folder(&t("dup"), "captions.csv", "filename,caption\nphoto.jpg,a photo\nicon.svg,an icon\nphoto.jpg,another caption\n");
    let msg = err(load_user(&t("dup"), 32));
    assert!(msg.contains("line 4") && msg.contains("photo.jpg") && msg.contains("first on line 2"), "{msg}");
    // a folder of shards, one of them gzipped: refused, not read in part
    std::fs::create_dir_all(t("packed")).unwrap();
    let p = png_thirds(8, 8);
    std::fs::write(t("packed").join("000.tar"), shard(&[("a.png", &p), ("a.txt", b"one")])).unwrap();
    std::fs::write(t("packed").join("001.tar.gz"), [0x1f, 0x8b, 8, 0]).unwrap();
    std::fs::write(t("packed").join("002.tgz"), [0x1f, 0x8b, 8, 0]).unwrap();
    let msg = err(load_user(&t("packed"), 32));
    assert!(msg.contains("001.tar.gz, 002.tgz") && msg.contains("decompress"), "{msg}");
    #[cfg(unix)]
    {
        let mkfifo = |p: &Path| assert!(std::process::Command::new("mkfifo").arg(p).status().unwrap().success());
        std::fs::create_dir_all(t("fifo")).unwrap();
        mkfifo(&t("fifo").join("captions.csv"));
        let msg = err(load_user(&t("fifo"), 32));
        assert!(msg.contains("captions.csv") && msg.contains("not a regular file"), "{msg}");
        mkfifo(&t("pipe.tar"));
        let msg = err(load_user(&t("pipe.tar"), 32));
        assert!(msg.contains("pipe.tar") && msg.contains("not a regular file"), "{msg}");
    }
}

/// Shard members that are not part of a sample are counted in a note, not dropped unseen.
#[test]
fn shard_members_not_read_are_noted() {
    let tmp = tempfile::tempdir().unwrap();
    let p = png_thirds(8, 8);
    let path = tmp.path().join("s.tar");
    std::fs::write(&path, shard(&[("a.png", &p), ("a.txt", b"one"), ("c.d.png", &p), ("c.d.txt", b"two"), ("README", b"x")])).unwrap();
    let (ds, report) = load_user_with(&path, 32, &LoadOptions::default()).unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(report.notes[0].contains("3 member(s) not read") && report.notes[0].contains("c.d.png"), "{}", report.notes[0]);
}
