/**
 * The portable parts of the buffer layer as a small standalone binary
 * (native/test/buffers_test.cc): the Metal host's view splitting for memory
 * larger than maxBufferLength (native/metal/buffer_views.h) under 20,000 random
 * layouts with small pages and limits, a device (non-host) buffer type reached
 * only through get/set/copy_to, and the order a buffer releases its backend
 * states and its owner (the mapping goes last). About 5 s (compiling).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const cxx = process.env.CXX ?? (has('g++') ? 'g++' : has('clang++') ? 'clang++' : undefined);
if (!cxx) console.warn('native-buffers: no C++ compiler on PATH; buffer unit tests skipped');

(cxx ? test : test.skip)('view splitting, device buffers and release order', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-buffers-'));
  try {
    const exe = path.join(tmp, 'buffers-test');
    execFileSync(cxx!, [
      '-std=c++17',
      '-O1',
      '-Wall',
      '-Werror',
      '-o',
      exe,
      path.join(root, 'native/test/buffers_test.cc'),
      path.join(root, 'native/core/buffer.cc'),
      path.join(root, 'native/core/error.cc'),
      path.join(root, 'native/metal/buffer_views.cc'),
    ]);
    const r = spawnSync(exe, [], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stdout).toContain('0 failures');
    expect(r.status).toBe(0);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
