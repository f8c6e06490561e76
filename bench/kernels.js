#!/usr/bin/env node
// @ts-check
/**
 * Kernel benchmark: GFLOP/s and GB/s of every op and matmul weight type, for
 * decode-shaped (matrix-vector) and prefill-shaped (many-row) problems, printed
 * beside this machine's measured read bandwidth and peak FMA throughput.
 *
 *   npm run bench:kernels [-- --backend cpu|metal|metal-sim] [--threads N] [--quick] [--json]
 *
 * Runs on the compiled package (dist/); `npm test` or `npm run build:ts` builds it.
 */
'use strict';
const os = require('node:os');
const { parseArgs } = require('node:util');

const mm = require('../dist/index.js');
const { native } = require('../dist/native.js');

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'cpu' },
    threads: { type: 'string' },
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    types: { type: 'string' },
  },
});

const threads = args.threads ? Number(args.threads) : native().cpuInfo().physicalCores;
const be = mm.Backend.create(/** @type {import('../dist/index.js').BackendName} */ (args.backend), { threads });
const D = args.quick ? 2048 : 4096; // matrix side
const P = args.quick ? 64 : 512; // prefill rows
const budget = args.quick ? 0.15 : 0.6; // seconds per measurement

const TYPES = args.types
  ? args.types.split(',')
  : ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K'].concat([
      'Q2_K',
      'Q3_K',
      'IQ4_NL',
      'IQ4_XS',
    ]);

function randomWeights(type, rows, cols) {
  const t = mm.typeInfo(type);
  const bytes = mm.matrixBytes(type, rows, cols);
  if (['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1'].includes(type)) {
    const f = new Float32Array(rows * cols);
    for (let i = 0; i < f.length; i++) f[i] = Math.sin(i * 12.9898) * 0.05;
    return mm.quantize(type, f, cols);
  }
  // K-quants and IQ4: random valid blocks (small positive scales).
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 2654435761) >>> 24;
  const dv = new DataView(out.buffer);
  // Where each block keeps its f16 scales (d first unless listed).
  const scaleAt = { Q6_K: [208], Q3_K: [108], Q2_K: [80, 82], IQ4_NL: [0], IQ4_XS: [0] }[type];
  for (let b = 0; b < bytes / t.typeSize; b++) {
    const o = b * t.typeSize;
    if (scaleAt) for (const at of scaleAt) dv.setUint16(o + at, 0x1400, true);
    else {
      dv.setUint16(o, 0x1400, true);
      dv.setUint16(o + 2, 0x1400, true);
    }
  }
  return out;
}

function timeIt(run) {
  run(); // warm up (page in weights, grow workspaces)
  let n = 0;
  const t0 = process.hrtime.bigint();
  let t = 0;
  while (t < budget || n < 3) {
    run();
    n++;
    t = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  return t / n;
}

function tensor(buffer, type, cols, rows, perToken) {
  return { buffer, offset: 0, type: mm.DType[type], cols, rows: perToken ? 0 : rows, rowsPerToken: perToken ? 1 : 0 };
}

function benchMatmul(type, rows) {
  const w = randomWeights(type, D, D);
  const wb = be.allocate(w.byteLength);
  be.upload(wb, 0, w);
  const xb = be.allocate(rows * D * 4);
  be.upload(xb, 0, new Float32Array(rows * D).fill(0.5));
  const yb = be.allocate(rows * D * 4);
  const g = be.createGraph({
    tensors: [tensor(xb, 'F32', D, rows, true), tensor(wb, type, D, D, false), tensor(yb, 'F32', D, rows, true)],
    nodes: [{ op: 'matmul', src: [0, 1], dst: 2 }],
    maxTokens: rows,
  });
  const s = timeIt(() => g.runSync({ nTokens: rows }));
  const flops = 2 * rows * D * D;
  const bytes = w.byteLength + rows * D * 8;
  return { s, gflops: flops / s / 1e9, gbs: bytes / s / 1e9 };
}

/**
 * @param {string} name
 * @param {import('../dist/index.js').Graph} g
 * @param {import('../dist/index.js').StepArgs} step
 * @param {number} flopsPer
 * @param {number} bytes
 */
function benchSimple(name, g, step, flopsPer, bytes) {
  const s = timeIt(() => g.runSync(step));
  return { name, s, gflops: flopsPer / s / 1e9, gbs: bytes / s / 1e9 };
}

function main() {
  const cpu = native().cpuInfo();
  const hw = native().probeHardware({ threads });
  const rowsOut = [];
  for (const type of TYPES) {
    const dec = benchMatmul(type, 1);
    const pre = benchMatmul(type, P);
    rowsOut.push({ op: `matmul ${type}`, decode: dec, prefill: pre });
  }
  // Bandwidth-bound ops on prefill-shaped activations [P, D].
  const E = P * D;
  const a = be.allocate(E * 4),
    b = be.allocate(E * 4),
    c = be.allocate(E * 4),
    wrow = be.allocate(D * 4);
  be.upload(a, 0, new Float32Array(E).fill(0.25));
  be.upload(b, 0, new Float32Array(E).fill(0.5));
  be.upload(wrow, 0, new Float32Array(D).fill(1));
  const pos = be.allocate(P * 4);
  be.upload(
    pos,
    0,
    Int32Array.from({ length: P }, (_, i) => i),
  );
  const mk = (nodes, tensors) => be.createGraph({ tensors, nodes, maxTokens: P });
  const T = (buf, cols, type = 'F32') => tensor(buf, type, cols, P, true);
  /** @type {Array<[string, import('../dist/index.js').Graph, number, number]>} */
  const simple = [
    [
      'rms_norm',
      mk(
        [{ op: 'rms_norm', src: [0, 1], dst: 2, params: { eps: 1e-5 } }],
        [T(a, D), tensor(wrow, 'F32', D, 1, false), T(c, D)],
      ),
      4 * E,
      8 * E,
    ],
    [
      'rope (neox)',
      mk(
        [{ op: 'rope', src: [0, 1], dst: 2, params: { nHead: D / 128, headDim: 128, ropeMode: 2 } }],
        [T(a, D), T(pos, 1, 'I32'), T(c, D)],
      ),
      6 * E,
      8 * E,
    ],
    ['softmax', mk([{ op: 'softmax', src: [0], dst: 1, params: { scale: 1 } }], [T(a, D), T(c, D)]), 4 * E, 8 * E],
    ['swiglu', mk([{ op: 'swiglu', src: [0, 1], dst: 2 }], [T(a, D), T(b, D), T(c, D)]), 5 * E, 12 * E],
    ['add', mk([{ op: 'add', src: [0, 1], dst: 2 }], [T(a, D), T(b, D), T(c, D)]), E, 12 * E],
    ['mul', mk([{ op: 'mul', src: [0, 1], dst: 2 }], [T(a, D), T(b, D), T(c, D)]), E, 12 * E],
  ];
  for (const [name, g, flops, bytes] of simple) {
    rowsOut.push({ op: name, prefill: benchSimple(name, g, { nTokens: P }, flops, bytes) });
  }
  // Decode attention: one query over the KV cache. Llama-3-8B's heads (32 / 8 KV heads of 128) over 2048
  // f16 rows; SmolLM2-135M's (9 / 3 of 64) over 4096 f16 rows, then q8_0 rows (kvType 'q8_0').
  /** @type {Array<{ H: number, KV: number, HD: number, CTX: number, type: 'F16' | 'Q8_0' }>} */
  const ATTENTION = [
    { H: 32, KV: 8, HD: 128, CTX: args.quick ? 512 : 2048, type: 'F16' },
    { H: 9, KV: 3, HD: 64, CTX: args.quick ? 1024 : 4096, type: 'F16' },
    { H: 9, KV: 3, HD: 64, CTX: args.quick ? 1024 : 4096, type: 'Q8_0' },
  ];
  for (const { H, KV, HD, CTX, type } of ATTENTION) {
    const rowBytes = mm.matrixBytes(type, 1, KV * HD); // one cache row: every KV head's part
    const q = be.allocate(H * HD * 4),
      o = be.allocate(H * HD * 4);
    const kc = be.allocate(CTX * rowBytes),
      vc = be.allocate(CTX * rowBytes);
    if (type === 'Q8_0') {
      // valid q8_0 blocks: small f16 scales, random values (an all-zero cache is a degenerate softmax)
      const rows = mm.quantize(
        'Q8_0',
        Float32Array.from({ length: CTX * KV * HD }, (_, i) => Math.sin(i * 0.37)),
        KV * HD,
      );
      be.upload(kc, 0, rows);
      be.upload(vc, 0, rows);
    }
    const g = be.createGraph({
      tensors: [
        tensor(q, 'F32', H * HD, 1, true),
        tensor(kc, type, KV * HD, CTX, false),
        tensor(vc, type, KV * HD, CTX, false),
        tensor(o, 'F32', H * HD, 1, true),
      ],
      nodes: [
        {
          op: 'attention',
          src: [0, 1, 2],
          dst: 3,
          params: { nHead: H, nKvHead: KV, headDim: HD, scale: 1 / Math.sqrt(HD) },
        },
      ],
      maxTokens: 1,
    });
    rowsOut.push({
      op: `attention decode (ctx ${CTX}, ${type === 'F16' ? 'f16' : 'q8_0'} KV, ${H} / ${KV} heads of ${HD})`,
      decode: benchSimple('attention', g, { nTokens: 1, nPast: CTX - 1 }, 4 * H * HD * CTX, 2 * CTX * rowBytes),
    });
  }

  if (args.json) {
    console.log(JSON.stringify({ machine: machineLine(cpu), hw, threads, D, P, rows: rowsOut }, null, 2));
    return;
  }
  console.log(`# minimacllm kernel benchmark: backend ${be.name}, ${threads} thread(s)`);
  console.log(`machine: ${machineLine(cpu)}`);
  console.log(
    `measured read bandwidth ${hw.readGBs.toFixed(1)} GB/s, peak f32 FMA ${hw.peakGflops.toFixed(0)} GFLOP/s (${threads} thread(s))`,
  );
  console.log(`decode: [1 x ${D}] . [${D} x ${D}]^T; prefill: [${P} x ${D}] . [${D} x ${D}]^T\n`);
  const pct = (v, max) => `${((100 * v) / max).toFixed(0)}%`;
  const header = '| op | decode GB/s | % of bandwidth | decode GFLOP/s | prefill GFLOP/s | % of peak | prefill GB/s |';
  console.log(header);
  console.log('|' + ' --- |'.repeat(7));
  for (const r of rowsOut) {
    const d = r.decode,
      p = r.prefill;
    console.log(
      `| ${r.op} | ${d ? d.gbs.toFixed(1) : ''} | ${d ? pct(d.gbs, hw.readGBs) : ''} | ${d ? d.gflops.toFixed(1) : ''} | ${p ? p.gflops.toFixed(1) : ''} | ${p ? pct(p.gflops, hw.peakGflops) : ''} | ${p ? p.gbs.toFixed(1) : ''} |`,
    );
  }
}

function machineLine(cpu) {
  const model = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${model}, ${cpu.physicalCores} physical / ${cpu.logicalCores} logical cores, SIMD ${cpu.simd} (${cpu.features.join(', ') || 'none'}), ${os.platform()} ${os.arch()}, Node ${process.version}`;
}

try {
  main();
} finally {
  be.dispose();
}
