// scores.wgsl — fused JEST score matrix A [B,B] from learner and reference embeddings.
// L_ij = softplus(−z_ij·(exp(t′)·u_i·v_j + β)), z = +1 on the diagonal, −1 off it.
// mode 0 learnability: A = gain·(L_learner − L_ref); 1 easy-ref: A = −gain·L_ref;
// mode 2 hard-learner: A = gain·L_learner. Nothing but A is written.

struct Params { bsz: u32, d: u32, mode: u32, gain: f32 };

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> sc_a: array<f32>; // [B,B]
@group(0) @binding(2) var<storage, read> sc_ul: array<f32>;      // [B,d] learner image embeddings
@group(0) @binding(3) var<storage, read> sc_vl: array<f32>;      // [B,d] learner text embeddings
@group(0) @binding(4) var<storage, read> sc_tbl: array<f32>;     // [2] = (t′, β) learner
@group(0) @binding(5) var<storage, read> sc_ur: array<f32>;      // [B,d] reference image embeddings
@group(0) @binding(6) var<storage, read> sc_vr: array<f32>;      // [B,d] reference text embeddings
@group(0) @binding(7) var<storage, read> sc_tbr: array<f32>;     // [2] = (t′, β) reference

const T: u32 = 16u;

// 16×16 tiles of the four embedding matrices along d (4 KiB of workgroup memory)
var<workgroup> t_ul: array<f32, 256>; // [i in tile, k in slice]
var<workgroup> t_vl: array<f32, 256>; // [j in tile, k in slice]
var<workgroup> t_ur: array<f32, 256>;
var<workgroup> t_vr: array<f32, 256>;

// log(1 + eˣ) without overflow (same form as loss.wgsl)
fn softplus(x: f32) -> f32 {
    return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

// one invocation per (i, j): i = row (gid.y), j = column (gid.x); both dot products
// u_l[i]·v_l[j] and u_r[i]·v_r[j] accumulated over shared 16-wide slices of d.
@compute @workgroup_size(16, 16)
fn score_matrix(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i0 = wid.y * T;
    let j0 = wid.x * T;
    let i = i0 + lid.y;
    let j = j0 + lid.x;
    let slot = lid.y * T + lid.x;
    var sl = 0.0;
    var sr = 0.0;
    for (var k0 = 0u; k0 < p.d; k0 += T) {
        // load: row lid.y of each tile, column k0 + lid.x (zero outside the matrices)
        let k = k0 + lid.x;
        let ri = i0 + lid.y;
        let rj = j0 + lid.y;
        var a_ul = 0.0;
        var a_ur = 0.0;
        var a_vl = 0.0;
        var a_vr = 0.0;
        if (k < p.d && ri < p.bsz) {
            a_ul = sc_ul[ri * p.d + k];
            a_ur = sc_ur[ri * p.d + k];
        }
        if (k < p.d && rj < p.bsz) {
            a_vl = sc_vl[rj * p.d + k];
            a_vr = sc_vr[rj * p.d + k];
        }
        t_ul[slot] = a_ul;
        t_ur[slot] = a_ur;
        t_vl[slot] = a_vl;
        t_vr[slot] = a_vr;
        workgroupBarrier();
        for (var q = 0u; q < T; q++) {
            sl += t_ul[lid.y * T + q] * t_vl[lid.x * T + q];
            sr += t_ur[lid.y * T + q] * t_vr[lid.x * T + q];
        }
        workgroupBarrier();
    }
    if (i >= p.bsz || j >= p.bsz) { return; }
    var z = -1.0;
    if (i == j) { z = 1.0; }
    let ll = softplus(-z * (exp(sc_tbl[0]) * sl + sc_tbl[1]));
    let lr = softplus(-z * (exp(sc_tbr[0]) * sr + sc_tbr[1]));
    var s = ll - lr;
    if (p.mode == 1u) {
        s = -lr;
    } else if (p.mode == 2u) {
        s = ll;
    }
    sc_a[i * p.bsz + j] = p.gain * s;
}
