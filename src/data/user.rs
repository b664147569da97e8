//! The user's own data: a folder of images with captions.tsv/.csv, or WebDataset .tar shards.

use super::imageio::{decode_to_square, IMAGE_EXTS};
use super::tabular::read_captions;
use super::{Dataset, NoiseKind};
use anyhow::{Context, Result};
use rayon::prelude::*;
use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::{Component, Path, PathBuf};

/// How to treat items that cannot be used (missing/corrupt image, empty or non-UTF-8 caption).
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Skip such items and report them, instead of failing on the first one.
    pub skip_bad: bool,
}

/// What a load did besides the dataset.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    pub loaded: usize,
    /// One line per skipped item, naming the file and the reason.
    pub skipped: Vec<String>,
    /// What else the user should know (shard members that were not read).
    pub notes: Vec<String>,
}

/// Loads the user's data strictly: any bad item is an error naming the file.
pub fn load_user(path: &Path, image_size: usize) -> Result<Dataset> {
    load_user_with(path, image_size, &LoadOptions::default()).map(|(d, _)| d)
}

/// An item before decoding: where it came from, image bytes + extension, caption bytes.
struct RawItem {
    what: String,
    key: String,
    ext: String,
    image: Result<Vec<u8>>,
    caption: Result<String>,
}

/// Where a dataset's items come from: a captions file (and the folder its file names are
/// relative to), or `.tar` shards.
enum Layout {
    Captions { file: PathBuf, root: PathBuf },
    Shards(Vec<PathBuf>),
}

/// The layout of the dataset at `path`: a folder (captions.tsv / captions.csv, or *.tar
/// shards), a captions file, or one `.tar` shard.
fn layout(path: &Path) -> Result<Layout> {
    let meta = std::fs::metadata(path).with_context(|| format!("{} does not exist or cannot be read", path.display()))?;
    let is_ext = |p: &Path, e: &str| p.extension().is_some_and(|x| x.eq_ignore_ascii_case(e));
    if !meta.is_dir() {
        return if is_ext(path, "tar") {
            Ok(Layout::Shards(vec![path.to_path_buf()]))
        } else if is_ext(path, "tsv") || is_ext(path, "csv") {
            Ok(Layout::Captions { file: path.to_path_buf(), root: path.parent().unwrap_or(Path::new(".")).to_path_buf() })
        } else {
            anyhow::bail!("{}: expected a folder, a captions .tsv/.csv, or a WebDataset .tar shard", path.display())
        };
    }
    let (tsv, csv) = (path.join("captions.tsv"), path.join("captions.csv"));
    // exists, not is_file: a captions "file" that is a folder or FIFO gets its own error
    match (tsv.exists(), csv.exists()) {
        (true, true) => anyhow::bail!("{} has both captions.tsv and captions.csv: keep one", path.display()),
        (true, false) => return Ok(Layout::Captions { file: tsv, root: path.to_path_buf() }),
        (false, true) => return Ok(Layout::Captions { file: csv, root: path.to_path_buf() }),
        (false, false) => {}
    }
    let listed: Vec<PathBuf> = std::fs::read_dir(path).with_context(|| format!("listing {}", path.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    let mut packed: Vec<String> = listed
        .iter()
        .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().to_ascii_lowercase()))
        .filter(|f| [".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar.zst"].iter().any(|e| f.ends_with(e)))
        .collect();
    packed.sort();
    anyhow::ensure!(
        packed.is_empty(),
        "{} holds compressed shards ({}): only plain .tar shards are read; decompress them first (e.g. gunzip *.tar.gz)",
        path.display(),
        packed.join(", ")
    );
    let mut shards: Vec<PathBuf> = listed.into_iter().filter(|p| is_ext(p, "tar")).collect();
    shards.sort();
    anyhow::ensure!(!shards.is_empty(), "{} has no captions.tsv, captions.csv or .tar shards: see docs/data.md for the layouts", path.display());
    Ok(Layout::Shards(shards))
}

/// Loads a folder (captions.tsv / captions.csv, or *.tar shards), a captions file, or one `.tar` shard.
pub fn load_user_with(path: &Path, image_size: usize, opts: &LoadOptions) -> Result<(Dataset, LoadReport)> {
    anyhow::ensure!((1..=1024).contains(&image_size), "image size {image_size} is out of range 1..=1024");
    let mut notes = Vec::new();
    let raw = match layout(path)? {
        Layout::Captions { file, root } => folder_items(&file, &root)?,
        Layout::Shards(shards) => {
            let mut all = Vec::new();
            for s in &shards {
                all.extend(shard_items(s, &mut notes)?);
            }
            all
        }
    };
    let decoded: Vec<Result<(String, String, Vec<u8>)>> = raw
        .into_par_iter()
        .map(|r| {
            let caption = r.caption.with_context(|| format!("{}: caption", r.what))?;
            let caption: String = caption.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            let caption = caption.split_whitespace().collect::<Vec<_>>().join(" ");
            anyhow::ensure!(!caption.is_empty(), "{}: the caption is empty", r.what);
            let bytes = r.image.with_context(|| format!("{}: image", r.what))?;
            let img = decode_to_square(&bytes, &r.ext, image_size).with_context(|| format!("{}: image", r.what))?;
            Ok((r.key, caption, img))
        })
        .collect();
    let mut ds = Dataset::empty(path.display().to_string(), image_size);
    ds.style_names = vec!["user".to_string()];
    let mut report = LoadReport { notes, ..LoadReport::default() };
    let mut concept_of: HashMap<String, u32> = HashMap::new();
    for r in decoded {
        match r {
            Ok((key, caption, img)) => {
                let n = concept_of.len() as u32;
                ds.concept.push(*concept_of.entry(caption.to_lowercase()).or_insert(n));
                ds.key.push(key);
                ds.captions.push(caption);
                ds.images.extend_from_slice(&img);
                ds.noise.push(NoiseKind::Clean);
                ds.label.push(u32::MAX);
                ds.style.push(0);
            }
            Err(e) if opts.skip_bad => report.skipped.push(format!("{e:#}")),
            Err(e) => anyhow::bail!("{e:#} (to skip bad items instead: --skip-bad / LoadOptions::skip_bad)"),
        }
    }
    report.loaded = ds.len();
    anyhow::ensure!(
        !ds.is_empty(),
        "no usable items in {} ({} skipped{})",
        path.display(),
        report.skipped.len(),
        report.skipped.first().map(|s| format!("; first: {s}")).unwrap_or_default()
    );
    ds.validate()?;
    Ok((ds, report))
}

/// The files a dataset at `path` is read from, as far as they can be listed without loading it
/// (what cannot be read is left for the load to report): the path itself, its captions file and
/// the images it lists, or its `.tar` shards.
pub fn input_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    match layout(path) {
        Ok(Layout::Captions { file, root }) => {
            if let Ok(rows) = read_captions(&file) {
                files.extend(rows.iter().filter(|r| safe_relative(&r.file)).map(|r| root.join(&r.file)));
            }
            files.push(file);
        }
        Ok(Layout::Shards(shards)) => files.extend(shards),
        Err(_) => {}
    }
    files
}

fn safe_relative(name: &str) -> bool {
    let p = Path::new(name);
    !name.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn folder_items(captions: &Path, root: &Path) -> Result<Vec<RawItem>> {
    let rows = read_captions(captions)?;
    anyhow::ensure!(!rows.is_empty(), "{} has a header but no rows", captions.display());
    let cname = captions.display();
    let mut out = Vec::with_capacity(rows.len());
    // an image by its path's parts (`./a.png` is `a.png`), to find one listed twice
    let mut first_line: HashMap<Vec<String>, usize> = HashMap::new();
    for r in rows {
        let what = format!("{cname} line {} (`{}`)", r.line, r.file.escape_debug());
        let parts: Vec<String> = Path::new(&r.file).components().filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
            _ => None,
        }).collect();
        if let Some(line) = first_line.get(&parts) {
            // a bad item: an error, or skipped and listed (--skip-bad, and every training command)
            let why = format!("the image is listed again (first on line {line}); give each image one row (one caption): an image twice in a batch is its own false negative");
            out.push(RawItem { what, key: r.file, ext: String::new(), image: Err(anyhow::anyhow!("{why}")), caption: Ok(r.caption) });
            continue;
        }
        first_line.insert(parts, r.line);
        anyhow::ensure!(
            safe_relative(&r.file),
            "{what}: the file name must be a relative path inside {} (no `..`, not absolute)",
            root.display()
        );
        let p = root.join(&r.file);
        let ext = p.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        let image = if !IMAGE_EXTS.contains(&ext.as_str()) {
            Err(anyhow::anyhow!("unsupported image type `{}` (use png, jpg or svg)", r.file))
        } else {
            read_image_file(&p)
        };
        out.push(RawItem { what, key: r.file, ext, image, caption: Ok(r.caption) });
    }
    Ok(out)
}

/// The most bytes one image or caption file may have (a 32×32 icon needs a few KiB; this
/// refuses a hostile size before anything is allocated or read).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// An image file of a folder dataset: a regular file (a link to one is followed) of at most
/// MAX_FILE_BYTES — never a FIFO or device, which would hang or never end.
fn read_image_file(p: &Path) -> Result<Vec<u8>> {
    let m = std::fs::metadata(p).with_context(|| format!("image {} not found or unreadable", p.display()))?;
    anyhow::ensure!(m.is_file(), "image {} is not a regular file (a folder, FIFO or device)", p.display());
    anyhow::ensure!(m.len() <= MAX_FILE_BYTES, "image {} has {} bytes, more than the {} MiB an image may hold", p.display(), m.len(), MAX_FILE_BYTES >> 20);
    let mut buf = Vec::with_capacity(m.len() as usize);
    std::fs::File::open(p)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf))
        .with_context(|| format!("image {} not found or unreadable", p.display()))?;
    anyhow::ensure!(buf.len() as u64 <= MAX_FILE_BYTES, "image {} grew past {} MiB while being read", p.display(), MAX_FILE_BYTES >> 20);
    Ok(buf)
}

/// Reads a WebDataset shard: entries `<key>.<ext>` grouped by key (path up to the first dot of
/// the file name); images png/jpg/jpeg/svg, caption `txt`; other members are ignored, and
/// counted in a note.
fn shard_items(shard: &Path, notes: &mut Vec<String>) -> Result<Vec<RawItem>> {
    let sname = shard.display().to_string();
    let meta = std::fs::metadata(shard).with_context(|| format!("reading {sname}"))?;
    anyhow::ensure!(meta.is_file(), "shard {sname} is not a regular file (a folder, FIFO or device)");
    anyhow::ensure!(meta.len() > 0, "shard {sname} is empty (0 bytes)");
    let mut file = std::fs::File::open(shard).with_context(|| format!("opening {sname}"))?;
    let mut magic = [0u8; 2];
    if file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b] {
        anyhow::bail!("shard {sname} is gzip-compressed: decompress it first (gunzip, or tar -xzf and point --data at the folder)");
    }
    file.seek(std::io::SeekFrom::Start(0)).with_context(|| format!("reading {sname}"))?;
    let mut ar = tar::Archive::new(std::io::BufReader::new(file));
    let mut order: Vec<String> = Vec::new();
    type Parts = (Option<(String, Vec<u8>)>, Option<Vec<u8>>);
    let mut parts: HashMap<String, Parts> = HashMap::new();
    let mut ignored: Vec<String> = Vec::new();
    for entry in ar.entries().with_context(|| format!("shard {sname} is not a readable tar file"))? {
        // the tar crate's message can quote raw header bytes: escape them for the terminal
        let mut entry = entry.map_err(|e| {
            let why: String = e.to_string().escape_debug().to_string();
            let short: String = why.chars().take(160).collect();
            anyhow::anyhow!("shard {sname} is corrupt or truncated: {short}{}", if short.len() < why.len() { "…" } else { "" })
        })?;
        let path = entry.path().with_context(|| format!("shard {sname}: an entry has an unreadable path"))?.into_owned();
        let name = path.to_string_lossy().into_owned();
        anyhow::ensure!(
            safe_relative(&name),
            "shard {sname}: entry `{name}` is absolute or contains `..`; refusing the shard"
        );
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        anyhow::ensure!(kind.is_file(), "shard {sname}: entry `{name}` is not a regular file ({kind:?}); refusing the shard");
        let fname = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let Some((stem, ext)) = fname.split_once('.') else {
            ignored.push(name);
            continue;
        };
        let key = match path.parent().map(|p| p.to_string_lossy().into_owned()).filter(|p| !p.is_empty()) {
            Some(dir) => format!("{dir}/{stem}"),
            None => stem.to_string(),
        };
        let ext = ext.to_ascii_lowercase();
        let is_img = IMAGE_EXTS.contains(&ext.as_str());
        if !is_img && ext != "txt" {
            ignored.push(name);
            continue;
        }
        let size = entry.size();
        anyhow::ensure!(
            size <= MAX_FILE_BYTES,
            "shard {sname}: entry `{name}` declares {size} bytes, more than the {} MiB an image or caption may hold; refusing the shard",
            MAX_FILE_BYTES >> 20
        );
        let mut buf = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut buf).with_context(|| format!("shard {sname}: entry `{name}` is truncated"))?;
        if !parts.contains_key(&key) {
            order.push(key.clone());
        }
        let slot = parts.entry(key.clone()).or_default();
        let taken = if is_img { slot.0.replace((ext, buf)).is_some() } else { slot.1.replace(buf).is_some() };
        anyhow::ensure!(
            !taken,
            "shard {sname}: key `{key}` has two {}; each sample needs one image and one .txt caption",
            if is_img { "images" } else { "captions" }
        );
    }
    if let Some(first) = ignored.first() {
        notes.push(format!(
            "shard {sname}: {} member(s) not read, e.g. `{}` — a sample is <key>.png|jpg|jpeg|svg + <key>.txt, the key ending at the file name's first dot",
            ignored.len(),
            first.escape_debug()
        ));
    }
    anyhow::ensure!(!order.is_empty(), "shard {sname} holds no <key>.png|jpg|svg + <key>.txt pairs");
    Ok(order
        .into_iter()
        .map(|key| {
            let (img, txt) = parts.remove(&key).unwrap_or_default();
            let what = format!("shard {sname} key `{key}`");
            let (ext, image) = match img {
                Some((e, b)) => (e, Ok(b)),
                None => (String::new(), Err(anyhow::anyhow!("no .png/.jpg/.svg image for this key"))),
            };
            let caption = match txt {
                Some(b) => String::from_utf8(b).map_err(|_| anyhow::anyhow!("the .txt caption is not valid UTF-8")),
                None => Err(anyhow::anyhow!("no .txt caption for this key")),
            };
            RawItem { what, key: format!("{}:{key}", shard.file_name().map(|f| f.to_string_lossy()).unwrap_or_default()), ext, image, caption }
        })
        .collect())
}
