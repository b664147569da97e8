// rng_core.wgsl — counter-based RNG shared by kernels (pure functions, no bindings, no entry points).
// Bit-identical to `src/cpu/rng.rs`: the u32 hash exactly; floats up to log/cos rounding and the
// series for −ln u below (the twin uses libm's ln, accurate there already).

// lowbias32 finaliser (C. Wellons): a bijection on u32 with strong avalanche
fn rng_mix(x: u32) -> u32 {
    var h = x;
    h ^= h >> 16u;
    h *= 0x7feb352du;
    h ^= h >> 15u;
    h *= 0x846ca68bu;
    h ^= h >> 16u;
    return h;
}

// k1 = mix(seed ^ φ); k2 = mix(k1 ^ stream·0x85EBCA6B) + 0xC2B2AE35; hash = mix(mix(i ^ k2) ^ k1)
fn rng_hash(seed: u32, stream: u32, i: u32) -> u32 {
    let k1 = rng_mix(seed ^ 0x9e3779b9u);
    let k2 = rng_mix(k1 ^ (stream * 0x85ebca6bu)) + 0xc2b2ae35u;
    return rng_mix(rng_mix(i ^ k2) ^ k1);
}

// hash bits to the open interval (0,1) from the top 24 bits: max(h >> 8, ½) · 2⁻²⁴ (exact in f32)
fn rng_unit_from_bits(h: u32) -> f32 {
    return max(f32(h >> 8u), 0.5) * (1.0 / 16777216.0);
}

// uniform in the open interval (0,1)
fn rng_uniform01(seed: u32, stream: u32, i: u32) -> f32 {
    return rng_unit_from_bits(rng_hash(seed, stream, i));
}

// −ln(u) for u in (0,1), accurate to a few f32 roundings also as u → 1. There −ln u ≈ 1 − u is
// small, and a GPU log's absolute error (WGSL allows 2⁻²¹; about 1e-7 seen) is a large relative
// error of it: the largest Gumbel keys moved by 0.012 on lavapipe, the normals nearest 0 by 2.6%
// on an H200. So for u ≥ ½: −ln u = 2·atanh(s), s = t / (2 − t), t = 1 − u (exact for u ≥ ½,
// Sterbenz), s ≤ ⅓, by its odd series to s¹³ (the rest < 2e-8 relative).
fn rng_neg_log_unit(u: f32) -> f32 {
    if (u < 0.5) { return -log(u); }
    let t = 1.0 - u;
    let s = t / (2.0 - t);
    let s2 = s * s;
    let odd = 1.0 + s2 * (0.33333334 + s2 * (0.2 + s2 * (0.14285715 + s2 * (0.11111111
        + s2 * (0.09090909 + s2 * 0.07692308)))));
    return 2.0 * s * odd;
}

// standard Gumbel noise: −log(−log(u))
fn rng_gumbel(seed: u32, stream: u32, i: u32) -> f32 {
    return -log(rng_neg_log_unit(rng_uniform01(seed, stream, i)));
}

// standard normal for index i (Box–Muller, cosine branch) from counters 2i and 2i+1
fn rng_normal(seed: u32, stream: u32, i: u32) -> f32 {
    let u1 = rng_uniform01(seed, stream, 2u * i);
    let u2 = rng_uniform01(seed, stream, 2u * i + 1u);
    return sqrt(2.0 * rng_neg_log_unit(u1)) * cos(6.283185307179586 * u2);
}
