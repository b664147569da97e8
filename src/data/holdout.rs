//! The validation split: clean pool pairs of held-out concepts, for choosing JEST's settings
//! (gain, chunks) without ever evaluating on the test split.
//!
//! Concepts are drawn in a fixed shuffled order until their clean pool items reach the wanted
//! size; every pool item of a drawn concept (clean or noisy) leaves the training pool, so the
//! learner never sees a validation concept, as with the test split. The curated split is
//! untouched, so the reference (and its checkpoint) is the same as for the test split.

use anyhow::{bail, Result};

use super::rng::hash_str;
use super::{Dataset, NoiseKind};

/// Fixed seed of the concept order: the split is the same on every machine and every run.
const HOLDOUT_SEED: u64 = 0x7661_6c69_6461_7465; // "validate"

/// Default size: the builtin test split's 1,417 pairs, so evaluation costs the same.
pub const VALIDATION_SIZE: usize = 1417;

/// Splits `pool` into (training pool, validation set). The validation set holds the clean items
/// of the first concepts, in a fixed hashed order, until at least `size` items are in; the
/// training pool keeps every item of every other concept, in the pool's order.
pub fn validation_split(pool: &Dataset, size: usize) -> Result<(Dataset, Dataset)> {
    // clean items per concept, in concept order (the concepts that can be held out)
    let mut per_concept: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
    for i in (0..pool.len()).filter(|&i| pool.noise[i] == NoiseKind::Clean) {
        *per_concept.entry(pool.concept[i]).or_default() += 1;
    }
    let clean_items: usize = per_concept.values().sum();
    // leave at least half of the clean items (and so of the concepts) for training
    if size == 0 || 2 * size > clean_items {
        bail!("a validation split of {size} pairs needs at least {} clean pool pairs, and {} has {clean_items}", 2 * size.max(1), pool.name);
    }
    let mut order: Vec<u32> = per_concept.keys().copied().collect();
    order.sort_by_key(|c| (hash_str(HOLDOUT_SEED, &c.to_string()), *c));
    let mut held = std::collections::HashSet::new();
    let mut n = 0;
    for c in order {
        if n >= size {
            break;
        }
        n += per_concept[&c];
        held.insert(c);
    }
    let val_idx: Vec<usize> = (0..pool.len()).filter(|&i| held.contains(&pool.concept[i]) && pool.noise[i] == NoiseKind::Clean).collect();
    let train_idx: Vec<usize> = (0..pool.len()).filter(|&i| !held.contains(&pool.concept[i])).collect();
    let mut train = pool.subset(&train_idx);
    train.name = format!("{}-minus-validation", pool.name);
    let mut val = pool.subset(&val_idx);
    val.name = format!("{}/validation", pool.name);
    Ok((train, val))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool of `n` items over n/3 concepts, every fourth item noisy.
    fn toy(n: usize) -> Dataset {
        let mut d = Dataset::empty("toy/pool", 1);
        for i in 0..n {
            d.images.extend_from_slice(&[i as u8; 3]);
            d.captions.push(format!("item {i}"));
            d.noise.push(if i % 4 == 3 { NoiseKind::Mismatched } else { NoiseKind::Clean });
            d.concept.push((i / 3) as u32);
            d.label.push(u32::MAX);
            d.style.push(0);
            d.key.push(format!("k{i}"));
        }
        d
    }

    #[test]
    fn validation_concepts_never_reach_training_and_the_split_is_fixed() {
        let pool = toy(400);
        let (train, val) = validation_split(&pool, 60).unwrap();
        assert!(val.len() >= 60 && val.len() < 60 + 3, "{} validation items", val.len());
        assert!(val.noise.iter().all(|&k| k == NoiseKind::Clean));
        let vc: std::collections::HashSet<u32> = val.concept.iter().copied().collect();
        assert!(train.concept.iter().all(|c| !vc.contains(c)), "a validation concept is in the training pool");
        // every item lands in exactly one side, except the noisy items of held-out concepts
        let dropped_noisy = (0..pool.len()).filter(|&i| vc.contains(&pool.concept[i]) && pool.noise[i] != NoiseKind::Clean).count();
        assert_eq!(train.len() + val.len() + dropped_noisy, pool.len());
        // not simply the first concepts, and the same on every call
        assert!(vc.iter().any(|&c| c > 20), "concepts {vc:?} are not shuffled");
        let (train2, val2) = validation_split(&pool, 60).unwrap();
        assert_eq!((train2.key, val2.key), (train.key, val.key));
    }

    #[test]
    fn a_validation_split_that_would_eat_the_pool_is_refused() {
        let pool = toy(40); // 30 clean items
        let e = validation_split(&pool, 20).unwrap_err().to_string();
        assert!(e.contains("needs at least 40 clean pool pairs") && e.contains("has 30"), "{e}");
        assert!(validation_split(&pool, 0).is_err());
    }
}
