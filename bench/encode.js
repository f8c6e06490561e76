#!/usr/bin/env node
// @ts-check
/**
 * The CPU side of one Metal decode step for a Llama-3.2-1B-shaped model
 * (issue 14 item 19; target <= 200 us per token), measured anywhere: compiles
 * native/test/plan_bench.cc (-O2) and prints what a step dispatches and what
 * planning it costs (SegmentPlan::for_step plus a walk over everything the
 * host's encode() hands to Metal). The Objective-C calls themselves (listed
 * as "Metal calls per token") can only be timed on a Mac.
 *
 *   npm run bench:encode [-- --steps N] [--json]
 */
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const { values: args } = parseArgs({
  options: { steps: { type: 'string', default: '20000' }, json: { type: 'boolean', default: false } },
});

const root = path.join(__dirname, '..');
const sources = [
  'native/test/plan_bench.cc',
  'native/metal/plan.cc',
  'native/core/graph.cc',
  'native/core/buffer.cc',
  'native/core/dtype.cc',
  'native/core/op_table.cc',
  'native/core/error.cc',
].map((f) => path.join(root, f));
const cxx = process.env.CXX ?? 'c++';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-encode-'));
try {
  const exe = path.join(tmp, 'plan-bench');
  execFileSync(cxx, ['-std=c++17', '-O2', '-o', exe, ...sources], { stdio: 'inherit' });
  const r = spawnSync(exe, [String(Number(args.steps))], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`plan-bench failed: ${r.stdout}${r.stderr}`);
  const out = JSON.parse(r.stdout);
  // Without skipping unchanged state the host would call, per dispatch,
  // setComputePipelineState, setBytes, 4 x setBuffer, setThreadgroupMemoryLength and
  // dispatchThreadgroups, plus one memoryBarrier per barrier.
  out.metal_calls_unskipped = out.dispatches * 8 + out.barriers;
  out.load_average = os.loadavg()[0];
  if (args.json) {
    console.log(JSON.stringify(out));
  } else {
    console.log('Metal decode step, CPU side (Llama-3.2-1B shape, Q4_0, 4096-row f16 cache)');
    console.log(
      `  nodes ${out.nodes}, dispatches ${out.dispatches} (${out.unfused_dispatches} unfused: ${out.fusions} rms_norm / swiglu nodes run inside ${out.fused_dispatches} matmuls), memory barriers ${out.barriers}`,
    );
    console.log(`  pipelines compiled at graph creation: ${out.kernels}; GPU buffer bindings: ${out.bindings}`);
    console.log(`  graph creation (node_supported x ${out.nodes}, plan, kernel list): ${out.prepare_us.toFixed(0)} us`);
    console.log(`  first decode step (dispatch list built): ${out.first_step_us.toFixed(0)} us`);
    console.log(`  every later decode step: ${out.step_us.toFixed(2)} us of planning (${out.steps} steps)`);
    console.log(
      `  Metal calls per token: ${out.metal_calls} (${out.metal_calls_unskipped} without skipping unchanged state; timed only on a Mac)`,
    );
    console.log(`  load average: ${out.load_average.toFixed(2)}`);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
