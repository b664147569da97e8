//! exp over an f32 slice, vectorised: glibc's expf algorithm lane by lane, so the CPU backend's
//! softmax and GELU run side by side yet give what `f32::exp` gives, bit for bit, on x86-64
//! Linux (glibc ≥ 2.27 on a CPU with FMA, where glibc runs this same algorithm); elsewhere
//! within 1 ulp of it.
//!
//! exp(x) = 2^(k/32) · 2^(r/32), z = x·32/ln 2, k = round(z), r = z − k ∈ [−½, ½]:
//! 2^(k/32) from a 32-entry table and k's high bits put into the exponent, 2^(r/32) ≈
//! 1 + C2·r + C1·r² + C0·r³, all in f64 with glibc's fused multiply-adds, rounded once to f32.
//! |x| ≥ 88 (overflow, underflow to subnormals, inf, NaN) goes to `f32::exp`.
// off x86-64 (wasm, ARM) only the libm way is built, and the table path is left unused
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

/// 32/ln 2.
const INV_LN2_N: f64 = f64::from_bits(0x4047_1547_652b_82fe);
/// 1.5·2^52: adding it rounds to an integer held in the low mantissa bits.
const SHIFT: f64 = f64::from_bits(0x4338_0000_0000_0000);
/// The cubic for 2^(r/32), highest power first.
const C0: f64 = f64::from_bits(0x3ebc_6af8_4b91_2394);
const C1: f64 = f64::from_bits(0x3f2e_bfce_50fa_c4f3);
const C2: f64 = f64::from_bits(0x3f96_2e42_ff0c_52d6);
/// bits(2^(i/32)) − (i << 47): adding k << 47 to entry k mod 32 gives bits(2^(k/32)).
const TABLE: [u64; 32] = [
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
];
/// The top 12 bits of |88.0f32|: from here on the table path is not used.
const ABSTOP_LIMIT: u32 = 0x42a;

fn abstop(x: f32) -> u32 {
    (x.to_bits() >> 20) & 0x7ff
}

/// exp(x) for |x| < 88 by the table and cubic (`mul_add` is one rounding, as glibc's FMA build).
#[inline(always)]
fn table_exp(x: f32) -> f32 {
    let xd = x as f64;
    let shifted = INV_LN2_N.mul_add(xd, SHIFT);
    let ki = shifted.to_bits();
    let kd = shifted - SHIFT;
    let r = INV_LN2_N.mul_add(xd, -kd);
    let s = f64::from_bits(TABLE[(ki & 31) as usize].wrapping_add(ki << 47));
    let z = C0.mul_add(r, C1);
    let y = r.mul_add(C2, 1.0);
    let y = z.mul_add(r * r, y);
    (y * s) as f32
}

/// xs[i] = exp(xs[i]), 16 lanes at a time; a block with any |x| ≥ 88 goes to `f32::exp`.
#[inline(always)]
fn exp_blocks(xs: &mut [f32]) {
    let mut blocks = xs.chunks_exact_mut(16);
    for b in &mut blocks {
        if b.iter().fold(0, |m, &x| m.max(abstop(x))) < ABSTOP_LIMIT {
            b.iter_mut().for_each(|x| *x = table_exp(*x));
        } else {
            b.iter_mut().for_each(|x| *x = x.exp());
        }
    }
    for x in blocks.into_remainder() {
        *x = if abstop(*x) < ABSTOP_LIMIT { table_exp(*x) } else { x.exp() };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn exp_avx512(xs: &mut [f32]) {
    exp_blocks(xs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn exp_avx2(xs: &mut [f32]) {
    exp_blocks(xs)
}

/// `f32::exp` one at a time: the platform's libm.
fn exp_libm(xs: &mut [f32]) {
    xs.iter_mut().for_each(|x| *x = x.exp());
}

/// xs[i] = exp(xs[i]), one way or another.
pub type ExpFn = fn(&mut [f32]);

/// The ways to take exp over a slice that this CPU runs, fastest first, with their names; the
/// table path only where the CPU has FMA (without it `mul_add` is a slow call, and glibc runs
/// another variant).
pub fn variants() -> Vec<(&'static str, ExpFn)> {
    let mut v: Vec<(&'static str, ExpFn)> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function is compiled for.
            v.push(("avx512", |xs| unsafe { exp_avx512(xs) }));
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            v.push(("avx2", |xs| unsafe { exp_avx2(xs) }));
        }
    }
    v.push(("libm", exp_libm));
    v
}

/// xs[i] = exp(xs[i]) with the fastest way this CPU has (chosen once per process).
pub fn exp_in_place(xs: &mut [f32]) {
    static CHOSEN: std::sync::OnceLock<ExpFn> = std::sync::OnceLock::new();
    CHOSEN.get_or_init(|| variants()[0].1)(xs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant against `f32::exp` on a sweep of bit patterns (every 251st, both signs,
    /// the table path's edges and the special values): bit for bit on glibc, else ≤ 1 ulp.
    #[test]
    fn variants_agree_with_f32_exp() {
        let mut xs: Vec<f32> = (0..=u32::MAX / 251).map(|i| f32::from_bits(i * 251)).collect();
        xs.extend([0.0, -0.0, 1.0, -1.0, 88.0, -88.0, 88.72283, 88.72284, -103.97, -104.0, -87.99999, 87.99999]);
        xs.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MIN_POSITIVE, -f32::MIN_POSITIVE, 1e-45, -1e-45]);
        let want: Vec<f32> = xs.iter().map(|x| x.exp()).collect();
        for (name, f) in variants() {
            let mut got = xs.clone();
            f(&mut got);
            let mut worst = 0u32;
            for ((&x, &g), &w) in xs.iter().zip(&got).zip(&want) {
                if w.is_nan() {
                    assert!(g.is_nan(), "{name}: exp({x:e}) = {g:e}, want NaN");
                    continue;
                }
                let ulps = g.to_bits().abs_diff(w.to_bits());
                if cfg!(target_env = "gnu") {
                    assert_eq!(g.to_bits(), w.to_bits(), "{name}: exp({x:e}) = {g:e}, f32::exp gives {w:e}");
                }
                worst = worst.max(ulps);
            }
            println!("exp variant {name}: {} values, max diff {worst} ulp from f32::exp", xs.len());
            assert!(worst <= 1, "{name}: {worst} ulp from f32::exp");
        }
    }

    /// Every one of the 2^32 bit patterns, each variant against `f32::exp`, bit for bit (run it
    /// after touching this file: `cargo test --release --lib expf -- --ignored`; 2.5 min).
    #[test]
    #[ignore]
    #[cfg(target_env = "gnu")]
    fn variants_equal_f32_exp_everywhere() {
        let (mut xs, mut got) = (vec![0f32; 1 << 20], vec![0f32; 1 << 20]);
        for (name, f) in variants() {
            for block in 0..(1u64 << 12) {
                for (i, x) in xs.iter_mut().enumerate() {
                    *x = f32::from_bits(((block << 20) + i as u64) as u32);
                }
                got.copy_from_slice(&xs);
                f(&mut got);
                for (&x, &g) in xs.iter().zip(&got) {
                    let w = x.exp();
                    assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()), "{name}: exp({x:e}) = {g:e}, f32::exp gives {w:e}");
                }
            }
        }
    }
}
