/**
 * The Metal plans at the size of a real model, without a Mac: the standalone
 * native/test/plan_bench.cc builds the graph of a Llama-3.2-1B-shaped model
 * (16 layers, 2048 wide, 32/8 heads of 64, FFN 8192, vocabulary 128256, Q4_0
 * weights, 4096-row f16 KV cache), asks node_supported for every node, plans
 * one segment and runs 50 decode steps through SegmentPlan::for_step. Checks
 * that every node runs on the kernels, the decode attention splits its keys
 * (one combine dispatch per layer), the rms_norms and swiglus are fused into
 * the matmuls that read them (292 dispatches become 245) and where the memory
 * barriers go: per layer 10 of 15 dispatches wait, while k and v (after q),
 * rope k (after rope q), the V store (after the K store) and up (after gate)
 * run concurrently; that a batched step rounds each quantized matmul input to the
 * q8 grid once (quantize_act, shared by q/k/v and by gate/up); and that
 * the encoder calls the host skips (unchanged pipeline, bindings, threadgroup
 * memory) leave every dispatch what it needs, replayed on a model encoder. About
 * 10 s (compiling). `npm run bench:encode` times the same path.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const cxx = process.env.CXX ?? (has('g++') ? 'g++' : has('clang++') ? 'clang++' : undefined);
if (!cxx) console.warn('metal-plan: no C++ compiler on PATH; skipped');

/** The sources plan_bench links (bench/encode.js lists the same). */
const planBenchSources = [
  'native/test/plan_bench.cc',
  'native/metal/plan.cc',
  'native/core/graph.cc',
  'native/core/buffer.cc',
  'native/core/dtype.cc',
  'native/core/op_table.cc',
  'native/core/error.cc',
].map((f) => path.join(root, f));

(cxx ? test : test.skip)('a 1B-shaped decode step: every node planned, split attention, barriers', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-plan-'));
  try {
    const exe = path.join(tmp, 'plan-bench');
    execFileSync(cxx!, ['-std=c++17', '-O1', '-Wall', '-Werror', '-o', exe, ...planBenchSources]);
    const r = spawnSync(exe, ['50'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, number>;
    expect(out.error).toBeUndefined();
    const layers = 16;
    expect(out.nodes).toBe(1 + 17 * layers + 3);
    // Fused (kernels/matmul_fused.metal): both rms_norms of every layer into the q/k/v
    // and gate/up matmuls, and the swiglu into the down projection in every layer but
    // the last (nothing rewrites its output after it, so it stays a node of its own).
    expect(out.fusions).toBe(3 * layers - 1);
    expect(out.fused_dispatches).toBe(5 * layers + layers - 1);
    // + one attn_combine per layer, - the fused producers' dispatches.
    expect(out.unfused_dispatches).toBe(out.nodes! + layers);
    expect(out.dispatches).toBe(out.nodes! + layers - out.fusions!);
    // Per layer 10 of 15 dispatches wait (13 of 18 unfused: the three fused away
    // all waited); the last layer's unfused swiglu adds one dispatch and one wait.
    expect(out.barriers).toBe(1 + 10 * layers + 1 + 3);
    expect(out.steps).toBe(50);
    // Batched rows (a max_tokens step, 8 rows): the matmuls over quantized weights read
    // their input rounded to the q8_0 grid by one quantize_act dispatch per input: q/k/v
    // share one, gate/up one, wo and down one each; the head's one row (last_row) and
    // every decode matmul round in their own kernel (matvec.h mv_rows_act).
    expect(out.prefill_tokens).toBe(8);
    expect(out.prefill_act_quants).toBe(4 * layers);
    expect(out.prefill_dispatches).toBe(out.nodes! + 4 * layers);
    // Encoding (next_calls): replaying the calls leaves every dispatch its pipeline,
    // threadgroup memory and bindings; unchanged state is not set again.
    expect(out.encode_errors).toBe(0);
    // (0.78 of them since the decode matmuls over quantized weights keep their
    // activations' block scales in threadgroup memory: its length now changes
    // between them and the kernels around them, 1,541 calls became 1,655.)
    expect(out.metal_calls).toBeLessThan(0.8 * (8 * out.dispatches! + out.barriers!));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
