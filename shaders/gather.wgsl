// gather.wgsl — row gather: out[k, :] = src[idx[k], :] (selected sub-batch from the super-batch).
// Words are moved as u32, bit for bit: the same kernel gathers floats and integer data (token
// ids, lengths, indices), and a u32 read as f32 is a subnormal that a driver may flush to zero.

struct Params { rows: u32, width: u32, _p0: u32, _p1: u32 };

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> g_out: array<u32>; // [rows, width] words
@group(0) @binding(2) var<storage, read> g_src: array<u32>;       // [_, width] words
@group(0) @binding(3) var<storage, read> g_idx: array<u32>;       // [rows]

// out[k, c] = src[idx[k], c]; linear index e = k·width + c = gid.x + gid.y · nwg.x · 256
@compute @workgroup_size(256)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * nwg.x * 256u;
    if (e >= p.rows * p.width) { return; }
    let k = e / p.width;
    let c = e % p.width;
    g_out[e] = g_src[g_idx[k] * p.width + c];
}
