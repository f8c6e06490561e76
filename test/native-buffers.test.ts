/**
 * The portable parts of the buffer layer as a small standalone binary
 * (native/test/buffers_test.cc): the Metal host's view splitting for memory
 * larger than maxBufferLength (native/metal/buffer_views.h) under 20,000 random
 * layouts with small pages and limits, a device (non-host) buffer type reached
 * only through get/set/copy_to, and the order a buffer releases its backend
 * states and its owner (the mapping goes last). About 5 s (compiling). Then,
 * through the addon: weights are read through the file's read-only shared
 * mapping, which a write through a JS view (copy-on-write) does not reach.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native } from '../lib/native';

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

test('weights are read through a read-only shared mapping: a write through a JS view of the file reaches neither the file nor the backends', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-map-'));
  try {
    const file = path.join(tmp, 'w.bin');
    fs.writeFileSync(file, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]));
    const mf = native().mapFile(file);
    const be = native().createBackend('cpu', { threads: 1 });
    const w = be.wrap(mf, 0, 8);
    const view = mf.view(0, 8);
    view[0] = 99; // copy-on-write: this process's private page only
    const got = new Uint8Array(8);
    be.download(w, 0, got);
    expect(Array.from(got)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(fs.readFileSync(file))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(view[0]).toBe(99);
    await be.dispose();
    mf.close();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
