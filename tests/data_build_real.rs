//! Builds the real builtin data (ignored by default): `JEST_DATA_SOURCES=DIR JEST_DATA_OUT=data
//! cargo test --release --test data_build_real -- --ignored --nocapture` (same as `jest-wgpu data build`).

use jest_wgpu::data::{build_dataset, BuildOptions};

#[test]
#[ignore = "needs the unpacked sources: set JEST_DATA_SOURCES (scripts/fetch-data-sources.sh DIR)"]
fn build_real_data() {
    let sources = std::env::var("JEST_DATA_SOURCES").expect("set JEST_DATA_SOURCES to the fetch-data-sources.sh folder");
    let out = std::env::var("JEST_DATA_OUT").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/data").to_string());
    let mut opts = BuildOptions::new(sources, out);
    opts.progress = true;
    let s = build_dataset(&opts).unwrap_or_else(|e| panic!("{e:#}"));
    println!("{s:#?}");
}
