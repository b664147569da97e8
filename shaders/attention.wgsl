// attention.wgsl — multi-head self-attention core: qkv [n,t,3c] = (q | k | v), keys j ≥ len masked.
// One invocation per (row b, head h, position i): r = (b·heads + h)·t + i, folded into x·y
// (r = gid.x + gid.y · nwg.x · 64). len_b = clamp(lens[b], 1, t); t ≤ 128.
// In the forward and the first backward pass, neighbouring invocations are neighbouring query rows
// i of one (b, h): their k_j and v_j reads are one address, but a row's own q_i (or dout_i) sits
// 3c (or c) words from the next one's, so that row is copied into private memory, QB words at a
// time, before the loops over j read it t times. In the second backward pass neighbours are keys
// j, and the q_i and dout_i reads are the shared ones. The dot-product loops take four keys or
// four channels at a time: independent sums that overlap the loads' latency. Each sum keeps the
// twin's order (over e, over j, or over i).

struct Params { n: u32, t: u32, c: u32, heads: u32, hd: u32, scale: f32, _p0: u32, _p1: u32 };

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 64u;
const QB: u32 = 64u; // words of a row held in private memory at a time

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

fn seq_len(l: u32) -> u32 {
    return clamp(l, 1u, p.t);
}

// ---- forward ----
// att[b,h,i,j] = softmax_{j<len}(q_i·k_j·scale) (0 for j ≥ len);  out[b,i,h·hd+e] = Σ_j att_ij v_j[e]
@group(0) @binding(1) var<storage, read_write> af_out: array<f32>;  // [n,t,c]
@group(0) @binding(2) var<storage, read_write> af_att: array<f32>;  // [n,heads,t,t]
@group(0) @binding(3) var<storage, read> af_qkv: array<f32>;        // [n,t,3c]
@group(0) @binding(4) var<storage, read> af_lens: array<u32>;       // [n]

@compute @workgroup_size(64)
fn attention_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(gid, nwg);
    if (r >= p.n * p.heads * p.t) { return; }
    let i = r % p.t;
    let bh = r / p.t;
    let h = bh % p.heads;
    let b = bh / p.heads;
    let len = seq_len(af_lens[b]);
    let c3 = 3u * p.c;
    let qo = (b * p.t + i) * c3 + h * p.hd;
    // s_j = q_i·k_j, over e in blocks of QB (one block when hd ≤ 64)
    var s: array<f32, 128>;
    var qv: array<f32, QB>;
    for (var e0 = 0u; e0 < p.hd; e0 += QB) {
        let eb = min(QB, p.hd - e0);
        for (var e = 0u; e < eb; e++) {
            qv[e] = af_qkv[qo + e0 + e];
        }
        // four keys at a time (four independent sums), then the rest one by one
        var j = 0u;
        for (; j + 4u <= len; j += 4u) {
            let ko = (b * p.t + j) * c3 + p.c + h * p.hd + e0;
            var d = vec4<f32>(0.0);
            if (e0 > 0u) {
                d = vec4<f32>(s[j], s[j + 1u], s[j + 2u], s[j + 3u]);
            }
            for (var e = 0u; e < eb; e++) {
                let k = vec4<f32>(af_qkv[ko + e], af_qkv[ko + c3 + e], af_qkv[ko + 2u * c3 + e], af_qkv[ko + 3u * c3 + e]);
                d += qv[e] * k;
            }
            s[j] = d.x;
            s[j + 1u] = d.y;
            s[j + 2u] = d.z;
            s[j + 3u] = d.w;
        }
        for (; j < len; j++) {
            let ko = (b * p.t + j) * c3 + p.c + h * p.hd + e0;
            var d = 0.0;
            if (e0 > 0u) {
                d = s[j];
            }
            for (var e = 0u; e < eb; e++) {
                d += qv[e] * af_qkv[ko + e];
            }
            s[j] = d;
        }
    }
    var mx = -3.0e38;
    for (var j = 0u; j < len; j++) {
        let d = s[j] * p.scale;
        s[j] = d;
        mx = max(mx, d);
    }
    var sum = 0.0;
    for (var j = 0u; j < len; j++) {
        let e = exp(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    let ao = r * p.t;
    for (var j = 0u; j < p.t; j++) {
        var a = 0.0;
        if (j < len) {
            a = s[j] * inv;
            s[j] = a;
        }
        af_att[ao + j] = a;
    }
    let oo = (b * p.t + i) * p.c + h * p.hd;
    let vo = b * p.t * c3 + 2u * p.c + h * p.hd;
    // four channels at a time (four independent sums over j), then the rest one by one
    var e = 0u;
    for (; e + 4u <= p.hd; e += 4u) {
        var acc = vec4<f32>(0.0);
        for (var j = 0u; j < len; j++) {
            let vj = vo + j * c3 + e;
            acc += s[j] * vec4<f32>(af_qkv[vj], af_qkv[vj + 1u], af_qkv[vj + 2u], af_qkv[vj + 3u]);
        }
        af_out[oo + e] = acc.x;
        af_out[oo + e + 1u] = acc.y;
        af_out[oo + e + 2u] = acc.z;
        af_out[oo + e + 3u] = acc.w;
    }
    for (; e < p.hd; e++) {
        var acc = 0.0;
        for (var j = 0u; j < len; j++) {
            acc += s[j] * af_qkv[vo + j * c3 + e];
        }
        af_out[oo + e] = acc;
    }
}

// ---- backward pass 1 (per query row i) ----
// datt[b,h,i,j] = dscore_ij = att_ij (dout_i·v_j − Σ_l att_il dout_i·v_l)  (0 for j ≥ len)
// dq_i += scale · Σ_j dscore_ij k_j
@group(0) @binding(1) var<storage, read_write> bq_dqkv: array<f32>; // [n,t,3c]
@group(0) @binding(2) var<storage, read_write> bq_datt: array<f32>; // [n,heads,t,t]
@group(0) @binding(3) var<storage, read> bq_dout: array<f32>;       // [n,t,c]
@group(0) @binding(4) var<storage, read> bq_qkv: array<f32>;        // [n,t,3c]
@group(0) @binding(5) var<storage, read> bq_att: array<f32>;        // [n,heads,t,t]
@group(0) @binding(6) var<storage, read> bq_lens: array<u32>;       // [n]

@compute @workgroup_size(64)
fn attention_bwd_q(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(gid, nwg);
    if (r >= p.n * p.heads * p.t) { return; }
    let i = r % p.t;
    let bh = r / p.t;
    let h = bh % p.heads;
    let b = bh / p.heads;
    let len = seq_len(bq_lens[b]);
    let c3 = 3u * p.c;
    let ao = r * p.t;
    let dyo = (b * p.t + i) * p.c + h * p.hd;
    // g_j = dout_i·v_j, over e in blocks of QB (one block when hd ≤ 64)
    var g: array<f32, 128>;
    var dy: array<f32, QB>;
    for (var e0 = 0u; e0 < p.hd; e0 += QB) {
        let eb = min(QB, p.hd - e0);
        for (var e = 0u; e < eb; e++) {
            dy[e] = bq_dout[dyo + e0 + e];
        }
        // four keys at a time (four independent sums), then the rest one by one
        var j = 0u;
        for (; j + 4u <= len; j += 4u) {
            let vo = (b * p.t + j) * c3 + 2u * p.c + h * p.hd + e0;
            var d = vec4<f32>(0.0);
            if (e0 > 0u) {
                d = vec4<f32>(g[j], g[j + 1u], g[j + 2u], g[j + 3u]);
            }
            for (var e = 0u; e < eb; e++) {
                let v = vec4<f32>(bq_qkv[vo + e], bq_qkv[vo + c3 + e], bq_qkv[vo + 2u * c3 + e], bq_qkv[vo + 3u * c3 + e]);
                d += dy[e] * v;
            }
            g[j] = d.x;
            g[j + 1u] = d.y;
            g[j + 2u] = d.z;
            g[j + 3u] = d.w;
        }
        for (; j < len; j++) {
            let vo = (b * p.t + j) * c3 + 2u * p.c + h * p.hd + e0;
            var d = 0.0;
            if (e0 > 0u) {
                d = g[j];
            }
            for (var e = 0u; e < eb; e++) {
                d += dy[e] * bq_qkv[vo + e];
            }
            g[j] = d;
        }
    }
    var dot = 0.0;
    for (var j = 0u; j < len; j++) {
        dot += bq_att[ao + j] * g[j];
    }
    for (var j = 0u; j < p.t; j++) {
        var v = 0.0;
        if (j < len) {
            v = bq_att[ao + j] * (g[j] - dot);
            g[j] = v;
        }
        bq_datt[ao + j] = v;
    }
    let qo = (b * p.t + i) * c3 + h * p.hd;
    let ko = b * p.t * c3 + p.c + h * p.hd;
    // dq: four channels at a time (four independent sums over j), then the rest one by one
    var e = 0u;
    for (; e + 4u <= p.hd; e += 4u) {
        var acc = vec4<f32>(0.0);
        for (var j = 0u; j < len; j++) {
            let kj = ko + j * c3 + e;
            acc += g[j] * vec4<f32>(bq_qkv[kj], bq_qkv[kj + 1u], bq_qkv[kj + 2u], bq_qkv[kj + 3u]);
        }
        let dq = vec4<f32>(bq_dqkv[qo + e], bq_dqkv[qo + e + 1u], bq_dqkv[qo + e + 2u], bq_dqkv[qo + e + 3u]) + p.scale * acc;
        bq_dqkv[qo + e] = dq.x;
        bq_dqkv[qo + e + 1u] = dq.y;
        bq_dqkv[qo + e + 2u] = dq.z;
        bq_dqkv[qo + e + 3u] = dq.w;
    }
    for (; e < p.hd; e++) {
        var acc = 0.0;
        for (var j = 0u; j < len; j++) {
            acc += g[j] * bq_qkv[ko + j * c3 + e];
        }
        bq_dqkv[qo + e] = bq_dqkv[qo + e] + p.scale * acc;
    }
}

// ---- backward pass 2 (per key column j < len) ----
// dk_j += scale · Σ_i dscore_ij q_i ;  dv_j += Σ_i att_ij dout_i
@group(0) @binding(1) var<storage, read_write> bk_dqkv: array<f32>; // [n,t,3c]
@group(0) @binding(2) var<storage, read> bk_datt: array<f32>;       // [n,heads,t,t] (from pass 1)
@group(0) @binding(3) var<storage, read> bk_dout: array<f32>;       // [n,t,c]
@group(0) @binding(4) var<storage, read> bk_qkv: array<f32>;        // [n,t,3c]
@group(0) @binding(5) var<storage, read> bk_att: array<f32>;        // [n,heads,t,t]
@group(0) @binding(6) var<storage, read> bk_lens: array<u32>;       // [n]

@compute @workgroup_size(64)
fn attention_bwd_kv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(gid, nwg);
    if (r >= p.n * p.heads * p.t) { return; }
    let j = r % p.t;
    let bh = r / p.t;
    let h = bh % p.heads;
    let b = bh / p.heads;
    if (j >= seq_len(bk_lens[b])) { return; }
    let c3 = 3u * p.c;
    // column j of dscores and att for this (b, h)
    var gc: array<f32, 128>;
    var ac: array<f32, 128>;
    for (var i = 0u; i < p.t; i++) {
        let idx = (bh * p.t + i) * p.t + j;
        gc[i] = bk_datt[idx];
        ac[i] = bk_att[idx];
    }
    let qo = b * p.t * c3 + h * p.hd;
    let dyo = b * p.t * p.c + h * p.hd;
    let ko = (b * p.t + j) * c3 + p.c + h * p.hd;
    // four channels at a time (eight independent sums over i), then the rest one by one
    var e = 0u;
    for (; e + 4u <= p.hd; e += 4u) {
        var dk = vec4<f32>(0.0);
        var dv = vec4<f32>(0.0);
        for (var i = 0u; i < p.t; i++) {
            let qi = qo + i * c3 + e;
            let yi = dyo + i * p.c + e;
            dk += gc[i] * vec4<f32>(bk_qkv[qi], bk_qkv[qi + 1u], bk_qkv[qi + 2u], bk_qkv[qi + 3u]);
            dv += ac[i] * vec4<f32>(bk_dout[yi], bk_dout[yi + 1u], bk_dout[yi + 2u], bk_dout[yi + 3u]);
        }
        let k = ko + e;
        let nk = vec4<f32>(bk_dqkv[k], bk_dqkv[k + 1u], bk_dqkv[k + 2u], bk_dqkv[k + 3u]) + p.scale * dk;
        let v = k + p.c;
        let nv = vec4<f32>(bk_dqkv[v], bk_dqkv[v + 1u], bk_dqkv[v + 2u], bk_dqkv[v + 3u]) + dv;
        bk_dqkv[k] = nk.x;
        bk_dqkv[k + 1u] = nk.y;
        bk_dqkv[k + 2u] = nk.z;
        bk_dqkv[k + 3u] = nk.w;
        bk_dqkv[v] = nv.x;
        bk_dqkv[v + 1u] = nv.y;
        bk_dqkv[v + 2u] = nv.z;
        bk_dqkv[v + 3u] = nv.w;
    }
    for (; e < p.hd; e++) {
        var dk = 0.0;
        var dv = 0.0;
        for (var i = 0u; i < p.t; i++) {
            dk += gc[i] * bk_qkv[qo + i * c3 + e];
            dv += ac[i] * bk_dout[dyo + i * p.c + e];
        }
        bk_dqkv[ko + e] = bk_dqkv[ko + e] + p.scale * dk;
        bk_dqkv[ko + p.c + e] = bk_dqkv[ko + p.c + e] + dv;
    }
}
