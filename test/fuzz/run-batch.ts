/**
 * Child process of the fuzz harness: runs cases [start, end) of one suite and
 * reports each on stdout as it goes ("start <i> <desc>", then "ok <i>",
 * "error <i> <code>" or "FAIL <i> <why>"), written synchronously so that a
 * crash or a hang leaves the case that caused it as the last line.
 *
 *   node -r ./test/helpers/ts-register.js test/fuzz/run-batch.ts <suite> <seed> <start> <end>
 */
import * as fs from 'node:fs';
import { MiniMacLLMError, type ErrorCode } from '../../lib/errors';
import { caseRng } from './rng';
import type { FuzzSuite } from './suite';
import { selftestSuite } from './selftest';
import { SUITES } from './suites';

const say = (line: string): void => {
  fs.writeSync(1, `${line.replace(/\n/g, '\\n')}\n`);
};

async function main(): Promise<void> {
  const [name, seedText, startText, endText] = process.argv.slice(2);
  const suite = [...SUITES, selftestSuite as FuzzSuite<never>].find((s) => s.name === name);
  if (!suite) throw new Error(`unknown fuzz suite ${name}`);
  const seed = Number(seedText);
  const start = Number(startText);
  const end = Number(endText);
  const state = await suite.setup();
  for (let i = start; i < end; i++) {
    const c = suite.make(i, caseRng(seed, suite.name, i), state);
    say(`start ${i} ${c.desc}`);
    try {
      await c.run();
      say(c.mustFail ? `FAIL ${i} succeeded, but the case is invalid by construction` : `ok ${i}`);
    } catch (e) {
      const coded = e instanceof MiniMacLLMError && e.code !== 'ERR_INTERNAL';
      const permitted = (code: ErrorCode): boolean =>
        !suite.allowed || suite.allowed.includes(code) || (c.alsoAllowed?.includes(code) ?? false);
      const allowed = coded && permitted(e.code);
      if (c.known && !allowed) {
        say(
          `known ${i} ${c.known}: ${e instanceof MiniMacLLMError ? e.code : 'raw'} ${(e as Error)?.message ?? String(e)}`,
        );
      } else if (c.valid) {
        say(`FAIL ${i} a valid call failed: ${(e as Error)?.stack ?? String(e)}`);
      } else if (!(e instanceof MiniMacLLMError)) {
        say(`FAIL ${i} raw ${(e as Error)?.constructor?.name ?? typeof e}: ${(e as Error)?.stack ?? String(e)}`);
      } else if (e.code === 'ERR_INTERNAL' || !permitted(e.code)) {
        say(`FAIL ${i} ${e.code}: ${e.message}`);
      } else {
        say(`error ${i} ${e.code}`);
      }
    }
  }
  await suite.teardown?.(state);
  say('done');
}

main().catch((e: unknown) => {
  say(`FAIL setup ${(e as Error)?.stack ?? String(e)}`);
  process.exitCode = 1;
});
