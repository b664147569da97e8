// matmul.wgsl — C[m,n] = (acc ? C : 0) + op(A)·op(B) + bias[n], and the bias gradient.
//   op(A) = A[m,k] (row-major) or A[k,m]ᵀ;  op(B) = B[k,n] or B[n,k]ᵀ.
// Four entry points fix the transposes at compile time: matmul_nn, _nt, _tn, _tt.

struct Params { m: u32, k: u32, n: u32, flags: u32 };   // flags: bit0 acc, bit1 has_bias

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;   // a 1-word dummy when unused

// Tiled: a 64×64 block of C per workgroup of 16×16 invocations, each owning a 4×4 sub-block.
// K advances in slabs of 16: the workgroup stages op(A)[64×16] and op(B)[16×64] in shared
// memory (zero-padded at the edges), then every invocation does 16 rank-1 updates of its
// 4×4 registers from two vec4 reads.
const TILE: u32 = 64u;
const BK: u32 = 16u;
var<workgroup> As: array<vec4<f32>, 256>;   // [kk][row/4]: BK × 16 vec4
var<workgroup> Bs: array<vec4<f32>, 256>;   // [kk][col/4]

fn load_a(row: u32, kk: u32, ta: bool) -> f32 {
    if (row >= p.m || kk >= p.k) { return 0.0; }
    if (ta) { return a[kk * p.m + row]; }
    return a[row * p.k + kk];
}
fn load_b(kk: u32, col: u32, tb: bool) -> f32 {
    if (kk >= p.k || col >= p.n) { return 0.0; }
    if (tb) { return b[col * p.k + kk]; }
    return b[kk * p.n + col];
}

fn mm(wid: vec3<u32>, lid: vec3<u32>, ta: bool, tb: bool) {
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    let tid = lid.y * 16u + lid.x;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    // staging assignment: invocation tid fills vec4 slot tid of each tile
    let skk = tid / 16u;          // 0..15: k within the slab
    let s4 = (tid % 16u) * 4u;    // first of 4 rows (A) / columns (B)
    for (var k0 = 0u; k0 < p.k; k0 = k0 + BK) {
        let kk = k0 + skk;
        As[tid] = vec4<f32>(load_a(row0 + s4, kk, ta), load_a(row0 + s4 + 1u, kk, ta),
                            load_a(row0 + s4 + 2u, kk, ta), load_a(row0 + s4 + 3u, kk, ta));
        Bs[tid] = vec4<f32>(load_b(kk, col0 + s4, tb), load_b(kk, col0 + s4 + 1u, tb),
                            load_b(kk, col0 + s4 + 2u, tb), load_b(kk, col0 + s4 + 3u, tb));
        workgroupBarrier();
        for (var q = 0u; q < BK; q = q + 1u) {
            let av = As[q * 16u + lid.y];
            let bv = Bs[q * 16u + lid.x];
            acc0 = acc0 + av.x * bv;
            acc1 = acc1 + av.y * bv;
            acc2 = acc2 + av.z * bv;
            acc3 = acc3 + av.w * bv;
        }
        workgroupBarrier();
    }
    let i0 = row0 + lid.y * 4u;
    let j0 = col0 + lid.x * 4u;
    var bv = vec4<f32>(0.0);
    if ((p.flags & 2u) != 0u) {
        bv = vec4<f32>(bias[min(j0, p.n - 1u)], bias[min(j0 + 1u, p.n - 1u)], bias[min(j0 + 2u, p.n - 1u)], bias[min(j0 + 3u, p.n - 1u)]);
    }
    let accs = array<vec4<f32>, 4>(acc0 + bv, acc1 + bv, acc2 + bv, acc3 + bv);
    let keep = (p.flags & 1u) != 0u;
    for (var r = 0u; r < 4u; r = r + 1u) {
        let row = i0 + r;
        if (row >= p.m) { break; }
        for (var q = 0u; q < 4u; q = q + 1u) {
            let col = j0 + q;
            if (col >= p.n) { break; }
            let idx = row * p.n + col;
            var v = accs[r][q];
            if (keep) { v = v + c[idx]; }
            c[idx] = v;
        }
    }
}

@compute @workgroup_size(16, 16)
fn matmul_nn(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) { mm(w, l, false, false); }
@compute @workgroup_size(16, 16)
fn matmul_nt(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) { mm(w, l, false, true); }
@compute @workgroup_size(16, 16)
fn matmul_tn(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) { mm(w, l, true, false); }
@compute @workgroup_size(16, 16)
fn matmul_tt(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) { mm(w, l, true, true); }

// ---- bias_grad: db[j] += Σ_i dy[i,j]  (m rows, n cols; one invocation per column) ----
struct BgParams { m: u32, n: u32, _p0: u32, _p1: u32 };
@group(0) @binding(0) var<uniform> bp: BgParams;
@group(0) @binding(1) var<storage, read_write> db: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;

@compute @workgroup_size(64)
fn bias_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= bp.n) { return; }
    var s = 0.0;
    for (var i = 0u; i < bp.m; i = i + 1u) {
        s = s + dy[i * bp.n + j];
    }
    db[j] = db[j] + s;
}
