//! Twin of `shaders/rng_core.wgsl` + `shaders/rng.wgsl`: counter-based hash RNG, uniforms,
//! Gumbel noise and Box–Muller normals — the u32 hash is bit-identical on GPU and CPU.

use rayon::prelude::*;

/// The 32-bit finaliser "lowbias32" (C. Wellons): a bijection with strong avalanche.
pub fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^= h >> 16;
    h
}

/// Counter-based hash of (seed, stream, index): key k1 = mix(seed ^ φ),
/// k2 = mix(k1 ^ stream·0x85EBCA6B) + 0xC2B2AE35, out = mix(mix(i ^ k2) ^ k1).
pub fn hash(seed: u32, stream: u32, i: u32) -> u32 {
    let k1 = mix(seed ^ 0x9e37_79b9);
    let k2 = mix(k1 ^ stream.wrapping_mul(0x85eb_ca6b)).wrapping_add(0xc2b2_ae35);
    mix(mix(i ^ k2) ^ k1)
}

/// Hash bits to the open interval (0,1) from the top 24 bits: max(h>>8, ½)·2⁻²⁴ (exact in f32;
/// smallest 2⁻²⁵, largest 1 − 2⁻²⁴).
pub fn unit_from_bits(h: u32) -> f32 {
    ((h >> 8) as f32).max(0.5) * (1.0 / 16_777_216.0)
}

/// Uniform in the open interval (0,1): unit_from_bits(hash(seed, stream, i)).
pub fn uniform01(seed: u32, stream: u32, i: u32) -> f32 {
    unit_from_bits(hash(seed, stream, i))
}

/// Standard Gumbel noise: −log(−log(u)). (The kernel takes the inner log from a series for u ≥ ½,
/// where a GPU's log loses relative precision as u → 1; libm's `ln` is accurate there already.)
pub fn gumbel(seed: u32, stream: u32, i: u32) -> f32 {
    -(-uniform01(seed, stream, i).ln()).ln()
}

/// One standard normal for index i (Box–Muller, cosine branch) from counters 2i and 2i+1.
pub fn normal(seed: u32, stream: u32, i: u32) -> f32 {
    let u1 = uniform01(seed, stream, i.wrapping_mul(2));
    let u2 = uniform01(seed, stream, i.wrapping_mul(2).wrapping_add(1));
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// out[i] = std · normal(seed, stream, i)
pub fn randn(out: &mut [f32], seed: u32, stream: u32, std: f32) {
    out.par_iter_mut().with_min_len(4096).enumerate().for_each(|(i, o)| *o = std * normal(seed, stream, i as u32));
}
