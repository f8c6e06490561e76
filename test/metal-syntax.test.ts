/**
 * Compile-time checks of the Metal side without a Mac:
 *  - every kernels/*.metal file, and the single embedded source that
 *    scripts/embed-kernels.js builds for newLibraryWithSource (all files in one
 *    translation unit: catches duplicate helpers across files), compiles as
 *    C++ through the MSL shim (native/metal_sim/msl_shim.h) with -Werror;
 *  - every kernel name the dispatch plans can use (native/metal/plan.cc's
 *    table, exported by the addon) is defined by exactly one MM_KERNEL in kernels/;
 *  - the Objective-C++ host (native/metal/*.mm) passes clang's ARC syntax
 *    check against the stub Foundation/Metal headers in native/metal/stubs/.
 *    Skipped with a message when clang++ is missing (apt-get install clang).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native } from '../lib/native';

const root = path.join(__dirname, '..');
const kernelsDir = path.join(root, 'kernels');
const shim = path.join(root, 'native/metal_sim/msl_shim.h');
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-metal-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

const metalFiles = fs
  .readdirSync(kernelsDir)
  .filter((f) => f.endsWith('.metal'))
  .sort();
const cxx = has('g++') ? 'g++' : has('clang++') ? 'clang++' : undefined;
if (!cxx) console.warn('metal-syntax: no C++ compiler found; kernel compile checks skipped');

describe('kernels compile as C++ through the MSL shim', () => {
  const flags = ['-std=c++17', '-fsyntax-only', '-Wall', '-Werror', '-x', 'c++', '-include', shim];
  (cxx ? test : test.skip).each(metalFiles)('kernels/%s', (f) => {
    run(cxx!, [...flags, path.join(kernelsDir, f)]);
  });

  (cxx ? test : test.skip)('the embedded library source (every file in one translation unit)', () => {
    const out = path.join(tmp, 'all.metal');
    run('node', [path.join(root, 'scripts/embed-kernels.js'), '--metal', out]);
    const src = fs.readFileSync(out, 'utf8');
    expect(src).not.toMatch(/#\s*include\s+"/); // local headers are inlined
    for (const f of metalFiles) expect(src).toContain(`// ---- kernels/${f} ----`);
    run(cxx!, [...flags, out]);
    // The C++ form the macOS build compiles into the addon.
    const cc = path.join(tmp, 'kernels.cc');
    run('node', [path.join(root, 'scripts/embed-kernels.js'), cc]);
    run(cxx!, ['-std=c++17', '-fsyntax-only', '-Wall', '-Werror', cc]);
  });
});

// What the shim cannot reject by compiling (it would silently mean something
// else in C++), rejected by reading the sources.
test('kernels stay inside the MSL subset msl_shim.h documents', () => {
  const rules: Array<[RegExp, string]> = [
    [/^\s*(?:static\s+)?threadgroup\s+[\w:]+\s+\w+\s*\[/m, 'static threadgroup arrays (use the shmem argument)'],
    [/\[\[/, '[[attributes]] outside MM_KERNEL (common.h)'],
    [/\.(?:xy|xyz|xyzw|rg|rgb|rgba|yx|zw)\b/, 'vector swizzles'],
    [/\bbfloat\b/, 'bfloat (use ushort bits)'],
    [/\b\d+(?:\.\d*)?h\b/, 'half literals'],
    [/#\s*include\s*</, 'system includes (common.h includes metal_stdlib)'],
  ];
  for (const f of metalFiles) {
    const src = fs.readFileSync(path.join(kernelsDir, f), 'utf8').replace(/\/\/.*$/gm, '');
    for (const [re, what] of rules) expect(`${f}: ${re.test(src) ? what : 'ok'}`).toBe(`${f}: ok`);
  }
});

test('every kernel the dispatch plans can name is defined once in kernels/', () => {
  const defined = new Map<string, number>();
  const instantiate = (body: string, re: RegExp, make: (m: RegExpExecArray) => string[]): void => {
    for (let m = re.exec(body); m; m = re.exec(body))
      for (const n of make(m)) defined.set(n, (defined.get(n) ?? 0) + 1);
  };
  for (const f of metalFiles) {
    const src = fs.readFileSync(path.join(kernelsDir, f), 'utf8');
    instantiate(src, /^MM_KERNEL\((\w+),/gm, (m) => [m[1]!]);
    instantiate(src, /^MM_MATMUL_KERNELS\((\w+),/gm, (m) => [
      `matmul_mv_${m[1]}`,
      `matmul_mvb_${m[1]}`,
      `matmul_mm_${m[1]}`,
    ]);
    instantiate(src, /^MM_MATMUL_FUSED_KERNELS\((\w+),/gm, (m) =>
      ['mv_rms', 'mv_glu'].map((k) => `matmul_${k}_${m[1]}`),
    );
    instantiate(src, /^MM_ATTN_(DECODE|PREFILL)_KERNEL\((\w+), \w+, (\d+)\)/gm, (m) => [
      `attn_${m[1]!.toLowerCase()}_${m[2]}_d${m[3]}`,
    ]);
    instantiate(src, /^MM_GET_ROWS_KERNEL\((\w+),/gm, (m) => [`get_rows_${m[1]}`]);
    instantiate(src, /^MM_BINARY_KERNEL\((\w+),/gm, (m) => [m[1]!]);
    instantiate(src, /^MM_UNARY_KERNEL\((\w+),/gm, (m) => [m[1]!]);
  }
  for (const [name, count] of defined) expect(`${name} x${count}`).toBe(`${name} x1`);
  // The plans' kernel table (native/metal/plan.cc), as the addon exports it.
  const named = native().tables.gpuKernels;
  if (process.platform === 'win32') return; // no metal-sim in Windows builds
  expect(named.length).toBeGreaterThan(40);
  for (const t of [
    'f32',
    'f16',
    'bf16',
    'q8_0',
    'q4_0',
    'q4_1',
    'q5_0',
    'q5_1',
    'q4_K',
    'q5_K',
    'q6_K',
    'q2_K',
    'q3_K',
    'iq4_nl',
    'iq4_xs',
  ])
    for (const k of ['mv', 'mvb', 'mv_rms', 'mv_glu']) expect(named).toContain(`matmul_${k}_${t}`);
  for (const n of named) expect(defined.has(n) ? n : `missing kernel ${n}`).toBe(n);
});

const clang = has('clang++');
if (!clang) {
  console.warn(
    'metal-syntax: clang++ not found; the Objective-C++ syntax check of native/metal/*.mm is skipped (apt-get install clang)',
  );
}
const mmFiles = fs.readdirSync(path.join(root, 'native/metal')).filter((f) => f.endsWith('.mm'));

const objcFlags = [
  '-x',
  'objective-c++',
  '-std=c++17',
  '-fobjc-runtime=macosx-13.0',
  '-fobjc-arc',
  '-fblocks', // Apple's clang enables blocks by default (the deallocator: argument)
  '-fsyntax-only',
  '-Wall',
  '-Werror',
  '-DMM_HAVE_METAL',
  '-I',
  path.join(root, 'native/metal/stubs'),
];

(clang ? test : test.skip).each(mmFiles)(
  'native/metal/%s passes the ARC syntax check against the stub SDK headers',
  (f) => {
    run('clang++', [...objcFlags, path.join(root, 'native/metal', f)]);
  },
);

// The check can fail: a selector the stubs do not declare (a real Metal one)
// is an error, the same call with a declared selector is not.
(clang ? test : test.skip)('using anything the stubs do not declare fails the syntax check', () => {
  const check = (body: string): number => {
    const f = path.join(tmp, 'probe.mm');
    fs.writeFileSync(f, `#import <Metal/Metal.h>\nvoid probe(id<MTLDevice> d) { ${body} }\n`);
    return spawnSync('clang++', [...objcFlags, f], { encoding: 'utf8' }).status ?? -1;
  };
  expect(check('(void)[d newBufferWithLength:16 options:MTLResourceStorageModeShared];')).toBe(0);
  expect(check('(void)[d newBufferWithBytes:nullptr length:16 options:MTLResourceStorageModeShared];')).not.toBe(0);
  expect(check('(void)[d newBufferWithLength:16 options:MTLResourceStorageModePrivate];')).not.toBe(0);
  expect(check('(void)[d recommendedMaxWorkingSetSize];')).not.toBe(0);
});

// Check 14 of issue 14: every declaration of the stubs (selector with its
// argument and return types, property and whether it can be set, enum value,
// C function, struct field) equals Apple's metal-cpp headers, recorded in
// native/metal/stubs/metal-cpp-api.json by `node scripts/metal-api.js record`.
describe("the stub headers against Apple's declarations (metal-cpp)", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const api = require('../scripts/metal-api.js') as {
    parseStubs(texts: string[]): Array<{ key: string; decl: unknown }>;
    readStubs(): Array<{ key: string; decl: unknown }>;
    compare(declared: Array<{ key: string; decl: unknown }>, facts: unknown): string[];
    factsFile: string;
  };
  const facts = JSON.parse(fs.readFileSync(api.factsFile, 'utf8')) as { revision: string; api: object };
  const stubTexts = ['Foundation/Foundation.h', 'Metal/Metal.h'].map((f) =>
    fs.readFileSync(path.join(root, 'native/metal/stubs', f), 'utf8'),
  );

  test('every stub declaration matches metal-cpp; the revision is noted in the stubs', () => {
    const declared = api.readStubs();
    expect(declared.length).toBeGreaterThan(40);
    expect(api.compare(declared, facts)).toEqual([]);
    expect(facts.revision).toMatch(/macOS 14\.2/);
    for (const t of stubTexts) expect(t).toContain('metal-cpp for macOS 14.2 / iOS 17.2');
  });

  test.each([
    ['an argument type', 'newBufferWithLength:(NSUInteger)length', 'newBufferWithLength:(NSInteger)length'],
    ['a return type', '- (void*)contents;', '- (const char*)contents;'],
    ['an enum value', 'MTLGPUFamilyApple7 = 1007', 'MTLGPUFamilyApple7 = 1008'],
    [
      'a read-only property made settable',
      '@property(readonly) NSUInteger maxBufferLength;',
      '@property NSUInteger maxBufferLength;',
    ],
    [
      'a selector metal-cpp does not have',
      '- (id<MTLCommandQueue>)newCommandQueue;',
      '- (id<MTLCommandQueue>)newCommandQueueFast;',
    ],
    [
      'a class method made an instance method',
      '+ (instancetype)stringWithCString:',
      '- (instancetype)stringWithCString:',
    ],
  ])('a wrong stub fails: %s', (_what, from, to) => {
    const texts = stubTexts.map((t) => t.replace(from, to));
    expect(texts.join('')).not.toBe(stubTexts.join(''));
    expect(api.compare(api.parseStubs(texts), facts).length).toBeGreaterThan(0);
  });
});
