// sampler.wgsl — JEST joint example selection (Gumbel-top-m by chunks), one workgroup, one dispatch.
// (rng_core.wgsl is prepended.) m = b / chunks. For chunk n: for every candidate c not yet chosen,
//   key_c = s_c + gumbel(seed, step·1024 + n, c),  s_c = A[c,c] + sums[c] (joint) or A[c,c];
// take the m largest keys one at a time (argmax, ties → lowest index), appending to idx in draw
// order; after each chosen k (joint, not the last chunk): sums[c] = sums[c] + (A[k,c] + A[c,k]).
// Candidate c is owned by invocation c % 256 throughout, so sums[c] and key[c] are only ever
// touched by one invocation; the argmax is a shared-memory tree over (key, index) pairs.

struct Params {
    bsz: u32,
    b: u32,
    m: u32,
    chunks: u32,
    joint: u32,
    seed: u32,
    step: u32,
    _p0: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> js_idx: array<u32>;  // [b] chosen indices, draw order
@group(0) @binding(2) var<storage, read> js_a: array<f32>;          // [B,B] score matrix
// [2·B] scratch as raw words: [0, B) running sums (f32 bits); [B, 2B) this chunk's key (f32 bits)
// or SELECTED once the candidate is chosen
@group(0) @binding(3) var<storage, read_write> js_sums: array<u32>;

const WG: u32 = 256u;
const SELECTED: u32 = 0xffffffffu; // a NaN pattern no key is stored as
const NONE: u32 = 0xffffffffu;     // "no candidate" index

var<workgroup> sh_key: array<f32, 256>;
var<workgroup> sh_idx: array<u32, 256>;

// (k1, i1) better than (k2, i2): larger key, ties → lower index; NONE loses to anything
fn better(k1: f32, i1: u32, k2: f32, i2: u32) -> bool {
    if (i1 == NONE) { return false; }
    if (i2 == NONE) { return true; }
    return k1 > k2 || (k1 == k2 && i1 < i2);
}

@compute @workgroup_size(256)
fn joint_sample(@builtin(local_invocation_index) lid: u32) {
    let bsz = p.bsz;
    // init: sums = 0, nobody selected
    for (var c = lid; c < bsz; c += WG) {
        js_sums[c] = bitcast<u32>(0.0);
        js_sums[bsz + c] = 0u;
    }
    for (var n = 0u; n < p.chunks; n++) {
        let stream = p.step * 1024u + n;
        // keys for this chunk, and this invocation's best candidate
        var best_k = 0.0;
        var best_i = NONE;
        for (var c = lid; c < bsz; c += WG) {
            if (js_sums[bsz + c] == SELECTED) { continue; }
            var s = js_a[c * bsz + c];
            if (p.joint != 0u) {
                s = s + bitcast<f32>(js_sums[c]);
            }
            let key = s + rng_gumbel(p.seed, stream, c);
            js_sums[bsz + c] = bitcast<u32>(key);
            if (best_i == NONE || key > best_k) {
                best_k = key;
                best_i = c;
            }
        }
        for (var t = 0u; t < p.m; t++) {
            sh_key[lid] = best_k;
            sh_idx[lid] = best_i;
            workgroupBarrier();
            for (var w = WG / 2u; w > 0u; w = w / 2u) {
                if (lid < w && better(sh_key[lid + w], sh_idx[lid + w], sh_key[lid], sh_idx[lid])) {
                    sh_key[lid] = sh_key[lid + w];
                    sh_idx[lid] = sh_idx[lid + w];
                }
                workgroupBarrier();
            }
            let k = sh_idx[0];
            workgroupBarrier(); // everyone has read the winner before slots are reused
            if (lid == 0u) {
                js_idx[n * p.m + t] = k;
            }
            if (k % WG == lid) {
                // the owner marks it and rescans its remaining candidates
                js_sums[bsz + k] = SELECTED;
                best_k = 0.0;
                best_i = NONE;
                for (var c = lid; c < bsz; c += WG) {
                    let word = js_sums[bsz + c];
                    if (word == SELECTED) { continue; }
                    let key = bitcast<f32>(word);
                    if (best_i == NONE || key > best_k) {
                        best_k = key;
                        best_i = c;
                    }
                }
            }
            if (p.joint != 0u && n + 1u < p.chunks) {
                for (var c = lid; c < bsz; c += WG) {
                    let add = js_a[k * bsz + c] + js_a[c * bsz + k];
                    js_sums[c] = bitcast<u32>(bitcast<f32>(js_sums[c]) + add);
                }
            }
        }
    }
}
