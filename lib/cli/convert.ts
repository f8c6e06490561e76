/** `minimacllm convert <hf-dir> <out.gguf> --type f16|q8_0|q4_0` */
import { parseArgs } from 'node:util';
import { AbortError, InvalidArgumentError } from '../errors';
import { convert, type ConvertType } from '../convert';
import { pullModel } from '../hub/pull';
import { isHubSource } from '../hub/source';
import type { Command } from './command';
import { stepProgress } from './progress';

const TYPES: ConvertType[] = ['f16', 'q8_0', 'q4_0', 'bf16', 'f32'];

export const convertCommand: Command = {
  summary: 'convert a Hugging Face model folder to GGUF',
  usage: `usage: minimacllm convert <hf-dir | hf:org/repo> <out.gguf> [--type ${TYPES.join('|')}] [--force] [--quiet]\n\n  --type   weight type of 2-D tensors (default q8_0); norms stay F32\n  --force  replace <out.gguf> if it exists (never one of the model's own files)`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        type: { type: 'string', short: 't', default: 'q8_0' },
        quiet: { type: 'boolean', short: 'q', default: false },
        force: { type: 'boolean', short: 'f', default: false },
      },
    });
    const [given, out, ...extra] = positionals;
    if (given === undefined || out === undefined || extra.length > 0)
      throw new InvalidArgumentError(`expected <hf-dir> <out.gguf>\n\n${this.usage}`);
    const type = values.type as ConvertType;
    if (!TYPES.includes(type)) throw new InvalidArgumentError(`--type must be one of ${TYPES.join(', ')}`);
    // A safetensors repo on the Hub converts from its cached snapshot.
    const dir = isHubSource(given) ? (await pullModel(given)).path : given;
    // A bar on a terminal, a plain line every 2 s in a log; nothing with --quiet.
    const quiet = values.quiet === true;
    const progress = quiet ? undefined : stepProgress('convert');
    // Ctrl-C or a kill stops between tensors; the temporary file is removed before exiting.
    const ac = new AbortController();
    let interrupted: NodeJS.Signals | undefined;
    const onSignal = (s: NodeJS.Signals): void => {
      interrupted = s;
      ac.abort();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await convert(dir, out, {
        type,
        overwrite: values.force === true,
        signal: ac.signal,
        onProgress: progress && ((done, total, name) => progress.update(done, total, name)),
      });
      progress?.done();
    } catch (e) {
      if (interrupted && e instanceof AbortError) {
        progress?.done();
        process.stderr.write(`minimacllm convert: interrupted; ${out} was not written\n`);
        return interrupted === 'SIGINT' ? 130 : 143;
      }
      throw e;
    } finally {
      progress?.done();
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
    if (!quiet) process.stderr.write(`wrote ${out}\n`);
    return 0;
  },
};
