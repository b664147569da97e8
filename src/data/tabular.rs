//! Reads a captions file (`captions.tsv` or `.csv`, header `filename,caption`) with line-precise errors.

use anyhow::Result;
use std::path::Path;

/// One data row: 1-based line where it starts, file name, caption (as written).
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionRow {
    pub line: usize,
    pub file: String,
    pub caption: String,
}

const FILE_HEADERS: [&str; 5] = ["filename", "file", "image", "path", "key"];
const CAPTION_HEADERS: [&str; 3] = ["caption", "text", "title"];

/// Parses a captions file. TSV: fields split on tabs, no quoting. CSV: RFC 4180 (quotes, `""`,
/// separators and newlines inside quotes). A header row naming the two columns is required;
/// every row must have exactly two fields.
pub fn read_captions(path: &Path) -> Result<Vec<CaptionRow>> {
    let what = path.display().to_string();
    let bytes = crate::util::read_input_file(path, "captions file")?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
            anyhow::bail!("{what} line {line}: not valid UTF-8 (save the file as UTF-8)")
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let tsv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    let records = if tsv { split_tsv(text) } else { split_csv(text, &what)? };
    let mut it = records.into_iter().filter(|(_, f)| !(f.len() == 1 && f[0].trim().is_empty()));
    let sep = if tsv { "a tab" } else { "a comma" };
    let Some((hline, header)) = it.next() else { anyhow::bail!("{what} is empty: expected a header `filename,caption` and rows") };
    let h: Vec<String> = header.iter().map(|f| f.trim().to_ascii_lowercase()).collect();
    anyhow::ensure!(
        h.len() == 2 && FILE_HEADERS.contains(&h[0].as_str()) && CAPTION_HEADERS.contains(&h[1].as_str()),
        "{what} line {hline}: expected a header row with two columns `filename` and `caption` separated by {sep}, \
         found `{}`; add the header line",
        header.join(if tsv { "\\t" } else { "," })
    );
    let mut rows = Vec::new();
    for (line, f) in it {
        anyhow::ensure!(
            f.len() == 2,
            "{what} line {line}: expected 2 fields (filename, caption) separated by {sep}, found {}{}",
            f.len(),
            if f.len() > 2 && !tsv { " (quote captions that contain commas)" } else { "" }
        );
        let mut f = f.into_iter();
        let file = f.next().unwrap_or_default().trim().to_string();
        let caption = f.next().unwrap_or_default();
        rows.push(CaptionRow { line, file, caption });
    }
    Ok(rows)
}

fn split_tsv(text: &str) -> Vec<(usize, Vec<String>)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l).split('\t').map(str::to_string).collect()))
        .collect()
}

fn split_csv(text: &str, what: &str) -> Result<Vec<(usize, Vec<String>)>> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut cur = String::new();
    let (mut line, mut start) = (1usize, 1usize);
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cur.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    cur.push(c);
                }
                _ => cur.push(c),
            }
            continue;
        }
        match c {
            '"' if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            ',' => fields.push(std::mem::take(&mut cur)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut cur));
                out.push((start, std::mem::take(&mut fields)));
                line += 1;
                start = line;
            }
            _ => cur.push(c),
        }
    }
    anyhow::ensure!(!quoted, "{what} line {start}: a quoted field is never closed");
    if !cur.is_empty() || !fields.is_empty() {
        fields.push(cur);
        out.push((start, fields));
    }
    Ok(out)
}
