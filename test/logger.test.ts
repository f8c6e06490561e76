/**
 * Notices go through a logger (the loadModel option, else setLogger's, else stderr), with levels;
 * `quiet` keeps working; Model and Context are AsyncDisposable (`await using`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel, setLogger, type LogLevel, type Model, type Context } from '../lib';
import { Log } from '../lib/log';
import { chooseBackend, resetBackendNotice } from '../lib/model/backend-choice';

const MODEL = path.join(__dirname, '..', 'models', 'stories260K.gguf');

type Rec = [LogLevel, string];
const recorder = (): { records: Rec[]; sink: (l: LogLevel, m: string) => void } => {
  const records: Rec[] = [];
  return { records, sink: (l, m) => records.push([l, m]) };
};

let stderr: jest.SpyInstance;
beforeEach(() => {
  stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  resetBackendNotice();
});
afterEach(() => {
  stderr.mockRestore();
  setLogger();
});

test("loadModel's logger gets leveled records; nothing reaches stderr", async () => {
  const r = recorder();
  const model = await loadModel(MODEL, { backend: 'auto', threads: 1, logger: { level: 'debug', sink: r.sink } });
  await model.dispose();
  expect(r.records).toEqual(
    expect.arrayContaining([
      ['debug', expect.stringMatching(/^backend auto: .*CPU backend/)],
      ['info', expect.stringMatching(/^loaded .*\(llama, .*\) on cpu with 1 threads in \d+ ms$/)],
    ]),
  );
  expect(stderr).not.toHaveBeenCalled();
});

test('the default level is warn; setLogger takes console-like objects; the model option wins', async () => {
  const calls: Rec[] = [];
  const consoleLike = {
    debug: (m: string) => calls.push(['debug', m]),
    info: (m: string) => calls.push(['info', m]),
    warn: (m: string) => calls.push(['warn', m]),
    error: (m: string) => calls.push(['error', m]),
  };
  setLogger({ sink: consoleLike });
  await (await loadModel(MODEL, { threads: 1 })).dispose();
  expect(calls).toEqual([]); // info and debug are below the default level
  setLogger({ level: 'info', sink: consoleLike });
  await (await loadModel(MODEL, { threads: 1 })).dispose();
  expect(calls).toEqual([['info', expect.stringMatching(/^loaded /)]]);
  const own = recorder();
  await (await loadModel(MODEL, { threads: 1, logger: { level: 'info', sink: own.sink } })).dispose();
  expect(calls).toHaveLength(1);
  expect(own.records).toHaveLength(1);
  expect(stderr).not.toHaveBeenCalled();
});

test('the Metal fallback warns once, only on a Mac, through the logger; quiet silences it; errors pass quiet', () => {
  const r = recorder();
  const log = new Log({ level: 'debug', sink: r.sink });
  expect(chooseBackend('auto', log, 'linux')).toBe('cpu');
  expect(r.records.filter(([l]) => l === 'warn')).toEqual([]);
  expect(chooseBackend('auto', new Log({ sink: r.sink }, true), 'darwin')).toBe('cpu');
  expect(r.records.filter(([l]) => l === 'warn')).toEqual([]);
  chooseBackend('auto', log, 'darwin');
  chooseBackend('auto', log, 'darwin');
  const warns = r.records.filter(([l]) => l === 'warn');
  expect(warns).toEqual([['warn', 'Metal is not available on this Mac; running on the CPU backend (slower)']]);
  expect(warns[0]![1]).not.toMatch(/backend: 'cpu'|quiet/); // never an API option the CLI user cannot pass
  const quiet = recorder();
  const q = new Log({ level: 'debug', sink: quiet.sink }, true);
  q.info('i');
  q.warn('w');
  q.error('e');
  expect(quiet.records).toEqual([['error', 'e']]);
  expect(stderr).not.toHaveBeenCalled();
});

test('the default sink is stderr, prefixed; a throwing sink does not break loading', async () => {
  new Log().warn('something odd');
  expect(stderr).toHaveBeenCalledWith('minimacllm: something odd\n');
  const model = await loadModel(MODEL, {
    threads: 1,
    logger: {
      level: 'debug',
      sink: () => {
        throw new Error('broken logger');
      },
    },
  });
  expect(model.info.backend).toBe('cpu');
  await model.dispose();
});

test('logger options are checked with precise messages', async () => {
  const bad = async (logger: unknown): Promise<unknown> =>
    loadModel(MODEL, { logger: logger as never }).then(
      () => undefined,
      (e: unknown) => e,
    );
  await expect(bad(5)).resolves.toMatchObject({ code: 'ERR_INVALID_ARG', message: /logger must be an object/ });
  await expect(bad({ level: 'loud' })).resolves.toMatchObject({
    message: /logger.level must be one of debug, info, warn, error, silent, got "loud"/,
  });
  await expect(bad({ sink: { warn: () => undefined } })).resolves.toMatchObject({
    message: /logger.sink .*missing debug, info, error/,
  });
  await expect(bad({ levle: 'debug' })).resolves.toMatchObject({ message: /unknown logger option "levle"/ });
  expect(() => setLogger({ sink: 'stderr' as never })).toThrow(/logger.sink must be a function/);
});

test('no library code writes to the console directly', () => {
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (p !== path.join(__dirname, '..', 'lib', 'cli')) walk(p);
      } else if (
        e.name.endsWith('.ts') &&
        /\bconsole\.(log|warn|error|info|debug)\(|process\.stderr\.write\(/.test(fs.readFileSync(p, 'utf8'))
      ) {
        if (!p.endsWith(path.join('lib', 'log.ts'))) offenders.push(p);
      }
    }
  };
  walk(path.join(__dirname, '..', 'lib'));
  expect(offenders).toEqual([]);
});

test('await using disposes a Model and a Context at the end of the block', async () => {
  expect(typeof Symbol.asyncDispose).toBe('symbol');
  let model: Model | undefined;
  let ctx: Context | undefined;
  {
    await using m = await loadModel(MODEL, { threads: 1, quiet: true });
    model = m;
    {
      await using c = m.createContext({ contextSize: 32 });
      ctx = c;
      await c.evaluate(m.tokenize('Once upon a time'));
      expect(c.disposed).toBe(false);
    }
    expect(ctx.disposed).toBe(true);
    expect(m.disposed).toBe(false);
  }
  expect(model.disposed).toBe(true);
  await expect(model.generate('x')).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
});

test('await using disposes on a throw too', async () => {
  let model: Model | undefined;
  await expect(
    (async () => {
      await using m = await loadModel(MODEL, { threads: 1, quiet: true });
      model = m;
      throw new Error('boom');
    })(),
  ).rejects.toThrow('boom');
  expect(model?.disposed).toBe(true);
});
