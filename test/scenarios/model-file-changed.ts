/**
 * Child-process scenario for issue 11 item 3 (run by reliability-files.test.ts):
 * a loaded model whose file is truncated or rewritten on disk. Without the
 * check, the next step reads past the end of the mapped file and the process
 * dies with SIGBUS, which the parent reports. Prints one JSON line of results.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MiniMacLLMError } from '../../lib/errors';
import { loadModel } from '../../lib/model/model';

const [src, dir, pages] = process.argv.slice(2) as [string, string, string | undefined];
// 'huge': the weights read into huge pages (Linux: a copy); else through the file's mapping (the default).
const hugePages = pages === 'huge';

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof MiniMacLLMError ? `${e.code}: ${e.message}` : `raw: ${String(e)}`;
  }
}

async function main(): Promise<void> {
  const out: Record<string, string> = {};
  // Truncated to a third.
  let file = path.join(dir, 'truncated.gguf');
  fs.copyFileSync(src, file);
  let m = await loadModel(file, { backend: 'cpu', threads: 1, hugePages });
  out.before = await outcome(m.generate('Once', { maxTokens: 3 }));
  fs.truncateSync(file, Math.floor(fs.statSync(file).size / 3));
  out.truncatedGenerate = await outcome(m.generate('Once', { maxTokens: 3 }));
  out.truncatedEvaluate = await outcome(m.createContext({ contextSize: 16 }).evaluate([1, 2]));
  await m.dispose();

  // Rewritten in place with the same bytes (as `cp` does: truncate, write): only the mtime tells.
  file = path.join(dir, 'overwritten.gguf');
  fs.copyFileSync(src, file);
  m = await loadModel(file, { backend: 'cpu', threads: 1, hugePages });
  await m.generate('Once', { maxTokens: 2 });
  const old = fs.statSync(file).mtimeMs;
  fs.writeFileSync(file, fs.readFileSync(src));
  fs.utimesSync(file, new Date(), new Date(old + 5000));
  out.overwritten = await outcome(m.generate('Once', { maxTokens: 2 }));
  await m.dispose();

  // Replaced by rename: the old inode stays mapped and valid.
  file = path.join(dir, 'renamed.gguf');
  fs.copyFileSync(src, file);
  m = await loadModel(file, { backend: 'cpu', threads: 1, hugePages });
  const a = await m.generate('Once', { maxTokens: 5, temperature: 0 });
  fs.copyFileSync(src, `${file}.new`);
  fs.renameSync(`${file}.new`, file);
  const b = await m.generate('Once', { maxTokens: 5, temperature: 0 });
  out.renamed = JSON.stringify(a.tokens) === JSON.stringify(b.tokens) ? 'same' : 'different';
  await m.dispose();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exitCode = 1;
});
