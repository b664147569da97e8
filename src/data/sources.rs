//! Reads the unpacked pinned packages (iconify emoji sets, emojilib, mdi, tabler, OpenClipart) into raw items.

use anyhow::{Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The nine emoji categories used as zero-shot classes (the Unicode groups, minus "Component").
pub const CLASS_NAMES: [&str; 9] = [
    "activities",
    "animals & nature",
    "flags",
    "food & drink",
    "objects",
    "people & body",
    "smileys & emotion",
    "symbols",
    "travel & places",
];

/// Source family of an item (decides split fractions and noise rules).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Family {
    Emoji,
    Icon,
    OpenClipart,
}

/// One SVG with its metadata, before rendering.
#[derive(Clone, Debug)]
pub struct SourceItem {
    pub family: Family,
    /// Index into `BUILTIN_STYLES`.
    pub style: u16,
    /// Stable identifier, e.g. "noto:grinning-face".
    pub key: String,
    pub svg: Vec<u8>,
    /// Items with the same concept show the same thing (e.g. one emoji in several styles).
    pub concept_key: String,
    /// Concepts that must stay in the same split (an emoji and its skin-tone variants).
    pub group_key: String,
    /// Clean caption: name + keywords/tags (+ category).
    pub caption: String,
    /// Raw human metadata as found (OpenClipart title + subjects); equals `caption` elsewhere.
    pub raw_caption: String,
    /// File name / identifier only.
    pub slug: String,
    /// Zero-shot class (index into CLASS_NAMES).
    pub label: Option<u32>,
    /// Skin-tone variant of another emoji.
    pub variant: bool,
    /// OpenClipart title as written (empty where none).
    pub title: String,
}

/// A source package as used by the build (goes into the manifest).
#[derive(Clone, Debug, serde::Serialize)]
pub struct SourceInfo {
    pub name: String,
    pub registry: String,
    pub version: String,
    pub licence: String,
    pub attribution: String,
    /// SHA-256 over (relative path, length, bytes) of every input file read, in sorted path order.
    pub inputs_sha256: String,
    pub files_read: usize,
    pub items: usize,
}

pub(super) struct Hasher {
    h: Sha256,
    files: usize,
    root: PathBuf,
}

impl Hasher {
    pub(super) fn new(root: &Path) -> Self {
        Hasher { h: Sha256::new(), files: 0, root: root.to_path_buf() }
    }
    pub(super) fn read(&mut self, path: &Path) -> Result<Vec<u8>> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let rel = path.strip_prefix(&self.root).unwrap_or(path).to_string_lossy().replace('\\', "/");
        self.h.update((rel.len() as u64).to_le_bytes());
        self.h.update(rel.as_bytes());
        self.h.update((bytes.len() as u64).to_le_bytes());
        self.h.update(&bytes);
        self.files += 1;
        Ok(bytes)
    }
    pub(super) fn json(&mut self, path: &Path) -> Result<Value> {
        let b = self.read(path)?;
        serde_json::from_slice(&b).with_context(|| format!("{} is not valid JSON", path.display()))
    }
    pub(super) fn finish(self) -> (String, usize) {
        (hex(&self.h.finalize()), self.files)
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks `package.json` of an unpacked npm package against the pinned version.
pub(super) fn npm_package(dir: &Path, sub: &str, name: &str, version: &str) -> Result<PathBuf> {
    let root = dir.join("npm").join(sub).join("package");
    let pj = root.join("package.json");
    let text = std::fs::read_to_string(&pj).with_context(|| {
        format!("{} not found: fetch the sources with scripts/fetch-data-sources.sh {}", pj.display(), dir.display())
    })?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", pj.display()))?;
    let found = v["version"].as_str().unwrap_or("?");
    anyhow::ensure!(
        v["name"].as_str() == Some(name) && found == version,
        "{}: expected {name}@{version}, found {}@{found}; re-run scripts/fetch-data-sources.sh",
        pj.display(),
        v["name"].as_str().unwrap_or("?")
    );
    Ok(root)
}

pub(super) fn norm_cat(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

pub(super) fn class_of(category: &str) -> Option<u32> {
    let k = norm_cat(category);
    CLASS_NAMES.iter().position(|c| norm_cat(c) == k).map(|i| i as u32)
}

pub(super) fn words(s: &str) -> String {
    s.replace(['-', '_'], " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Most words in a clean caption (whole parts after the first are dropped beyond it), so that
/// captions fit a 32-token text tower.
pub const MAX_CAPTION_WORDS: usize = 14;

/// Joins caption parts with ", ", dropping empties and repeats, up to [`MAX_CAPTION_WORDS`] words.
pub fn join_parts(parts: impl IntoIterator<Item = String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut words = 0;
    for p in parts {
        let w: Vec<&str> = p.split_whitespace().collect();
        if w.is_empty() || seen.iter().any(|s| s.eq_ignore_ascii_case(&w.join(" "))) {
            continue;
        }
        if words + w.len() > MAX_CAPTION_WORDS {
            if seen.is_empty() {
                seen.push(w[..MAX_CAPTION_WORDS].join(" "));
            }
            break;
        }
        words += w.len();
        seen.push(w.join(" "));
    }
    seen.join(", ")
}

fn icon_item(style: u16, name: &str, concept: &str, caption: String, slug: String, svg: Vec<u8>) -> SourceItem {
    let svg = String::from_utf8_lossy(&svg).replace("currentColor", "#000000").into_bytes();
    SourceItem {
        family: Family::Icon,
        style,
        key: format!("{}:{name}", super::BUILTIN_STYLES[style as usize]),
        svg,
        concept_key: format!("icon:{concept}"),
        group_key: format!("icon:{concept}"),
        raw_caption: caption.clone(),
        caption,
        slug,
        label: None,
        variant: false,
        title: String::new(),
    }
}

fn read_mdi(dir: &Path, infos: &mut Vec<SourceInfo>) -> Result<Vec<SourceItem>> {
    let root = npm_package(dir, "mdi-svg", "@mdi/svg", "7.4.47")?;
    let mut h = Hasher::new(&root);
    let meta = h.json(&root.join("meta.json"))?;
    let mut list: Vec<&Value> = meta.as_array().context("@mdi/svg meta.json is not an array")?.iter().collect();
    list.sort_by_key(|m| m["name"].as_str().unwrap_or_default().to_string());
    let mut out = Vec::new();
    for m in list {
        let name = m["name"].as_str().context("@mdi/svg meta.json: entry without name")?;
        if m["deprecated"].as_bool() == Some(true) {
            continue;
        }
        let svg = h.read(&root.join("svg").join(format!("{name}.svg")))?;
        let aliases = m["aliases"].as_array().into_iter().flatten().filter_map(|a| a.as_str()).take(3).map(words);
        let tags = m["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str()).flat_map(|t| {
            t.split('/').map(|s| s.trim().to_lowercase()).collect::<Vec<_>>()
        });
        let caption = join_parts(std::iter::once(words(name)).chain(aliases).chain(tags));
        let concept = name.strip_suffix("-outline").unwrap_or(name);
        out.push(icon_item(4, name, concept, caption, format!("mdi-{name}"), svg));
    }
    let (sha, files) = h.finish();
    infos.push(SourceInfo {
        name: "@mdi/svg".into(),
        registry: "npm".into(),
        version: "7.4.47".into(),
        licence: "Apache-2.0".into(),
        attribution: "Material Design Icons by Pictogrammers (https://pictogrammers.com), Apache-2.0 \
                      (Pictogrammers Free License)"
            .into(),
        inputs_sha256: sha,
        files_read: files,
        items: out.len(),
    });
    Ok(out)
}

fn read_tabler(dir: &Path, infos: &mut Vec<SourceInfo>) -> Result<Vec<SourceItem>> {
    let root = npm_package(dir, "tabler-icons", "@tabler/icons", "3.52.0")?;
    let mut h = Hasher::new(&root);
    let meta = h.json(&root.join("icons.json"))?;
    let map = meta.as_object().context("@tabler/icons icons.json is not an object")?;
    let mut names: Vec<&String> = map.keys().collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let m = &map[name];
        let cat = m["category"].as_str().unwrap_or_default().to_lowercase();
        let tags: Vec<String> =
            m["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str()).map(words).take(5).collect();
        for (style, variant) in [(5u16, "outline"), (6u16, "filled")] {
            if m["styles"][variant].is_null() {
                continue;
            }
            let path = root.join("icons").join(variant).join(format!("{name}.svg"));
            let svg = h.read(&path)?;
            let title = if variant == "filled" { format!("{} filled", words(name)) } else { words(name) };
            let caption = join_parts(std::iter::once(title).chain(std::iter::once(cat.clone())).chain(tags.clone()));
            let slug = if variant == "filled" { format!("icon-tabler-filled-{name}") } else { format!("icon-tabler-{name}") };
            out.push(icon_item(style, name, name, caption, slug, svg));
        }
    }
    let (sha, files) = h.finish();
    infos.push(SourceInfo {
        name: "@tabler/icons".into(),
        registry: "npm".into(),
        version: "3.52.0".into(),
        licence: "MIT".into(),
        attribution: "Tabler Icons by Paweł Kuna (https://tabler.io/icons), MIT".into(),
        inputs_sha256: sha,
        files_read: files,
        items: out.len(),
    });
    Ok(out)
}

pub const OPENCLIPART_DIR: &str = "deb/openclipart-svg/usr/share/openclipart/svg";
pub const OPENCLIPART_VERSION: &str = "1:0.18+dfsg-19";

fn walk_svgs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ft = e.file_type().with_context(|| format!("reading {}", e.path().display()))?;
        if ft.is_dir() {
            walk_svgs(&e.path(), out)?;
        } else if ft.is_file() && e.path().extension().is_some_and(|x| x == "svg") {
            out.push(e.path()); // symlinks (Debian's duplicates) are skipped
        }
    }
    Ok(())
}

/// (title, description, subjects) from the RDF `cc:Work` of an OpenClipart SVG.
fn oc_metadata(svg: &[u8]) -> (String, String, Vec<String>) {
    let Ok(text) = std::str::from_utf8(svg) else { return Default::default() };
    let Ok(doc) = roxmltree::Document::parse_with_options(text, roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() })
    else {
        return Default::default();
    };
    let Some(work) = doc.descendants().find(|n| n.tag_name().name() == "Work") else { return Default::default() };
    let mut title = String::new();
    let mut desc = String::new();
    let mut subjects = Vec::new();
    for c in work.children().filter(|c| c.is_element()) {
        match c.tag_name().name() {
            "title" => title = c.text().unwrap_or_default().trim().to_string(),
            "description" => desc = c.text().unwrap_or_default().trim().to_string(),
            "subject" => {
                subjects = c
                    .descendants()
                    .filter(|n| n.tag_name().name() == "li")
                    .map(|n| n.text().unwrap_or_default().trim().to_string())
                    .collect()
            }
            _ => {}
        }
    }
    (title, desc, subjects)
}

fn read_openclipart(dir: &Path, infos: &mut Vec<SourceInfo>) -> Result<Vec<SourceItem>> {
    let pkg = dir.join("deb/openclipart-svg");
    let changelog = pkg.join("usr/share/doc/openclipart-svg/changelog.Debian.gz");
    let mut h = Hasher::new(&pkg);
    let gz = h.read(&changelog).with_context(|| {
        format!("OpenClipart not found: run scripts/fetch-data-sources.sh {}", dir.display())
    })?;
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(flate2::read::GzDecoder::new(&gz[..])), &mut first)
        .with_context(|| format!("{} is not gzip", changelog.display()))?;
    anyhow::ensure!(
        first.contains("(1:0.18+dfsg-19)"),
        "{}: expected openclipart-svg {OPENCLIPART_VERSION}, found `{}`",
        changelog.display(),
        first.trim()
    );
    let copyright = h.read(&pkg.join("usr/share/doc/openclipart-svg/copyright"))?;
    drop(copyright);
    let root = dir.join(OPENCLIPART_DIR);
    let mut paths = Vec::new();
    walk_svgs(&root, &mut paths)?;
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        let svg = h.read(&p)?;
        let rel = p.strip_prefix(&root).unwrap_or(&p).to_string_lossy().replace('\\', "/");
        let file = p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let (title, desc, subjects) = oc_metadata(&svg);
        let keep = |s: &&String| !s.is_empty() && !["hash", "unsorted", "icon", "icons"].contains(&s.as_str());
        let raw_caption = std::iter::once(title.clone()).chain(subjects.iter().filter(keep).cloned()).collect::<Vec<_>>().join(" ");
        let short_desc = if desc.len() <= 60 && !desc.contains('@') && !desc.contains("http") { words(&desc) } else { String::new() };
        let caption = join_parts(
            std::iter::once(words(&title)).chain(std::iter::once(short_desc)).chain(subjects.iter().filter(keep).map(|s| words(s)).take(5)),
        );
        out.push(SourceItem {
            family: Family::OpenClipart,
            style: 7,
            key: format!("openclipart:{rel}"),
            svg,
            concept_key: format!("openclipart:{rel}"),
            group_key: format!("openclipart:{rel}"),
            caption,
            raw_caption,
            slug: file,
            label: None,
            variant: false,
            title,
        });
    }
    // Files sharing a specific title (≤ 3 of them) are one concept; longer runs stay per file.
    let mut count: HashMap<String, usize> = HashMap::new();
    for it in &out {
        *count.entry(it.title.to_lowercase()).or_insert(0) += 1;
    }
    for it in out.iter_mut() {
        let t = it.title.to_lowercase();
        if !t.is_empty() && count[&t] <= MAX_SPECIFIC_TITLE_COUNT {
            it.concept_key = format!("openclipart-title:{t}");
            it.group_key = it.concept_key.clone();
        }
    }
    let (sha, files) = h.finish();
    infos.push(SourceInfo {
        name: "openclipart-svg".into(),
        registry: "debian (bookworm)".into(),
        version: OPENCLIPART_VERSION.into(),
        licence: "public-domain".into(),
        attribution: "Open Clip Art Library (http://www.openclipart.org), public domain; Debian package \
                      openclipart-svg"
            .into(),
        inputs_sha256: sha,
        files_read: files,
        items: out.len(),
    });
    Ok(out)
}

/// OpenClipart titles shared by more files than this are boilerplate or near-duplicate runs.
pub const MAX_SPECIFIC_TITLE_COUNT: usize = 3;

/// Every item of every source, in a fixed order, plus what was read.
pub fn read_sources(dir: &Path) -> Result<(Vec<SourceItem>, Vec<SourceInfo>)> {
    let mut infos = Vec::new();
    let mut items = super::sources_emoji::read_emoji(dir, &mut infos)?;
    items.extend(read_mdi(dir, &mut infos)?);
    items.extend(read_tabler(dir, &mut infos)?);
    items.extend(read_openclipart(dir, &mut infos)?);
    Ok((items, infos))
}
