/** `minimacllm perplexity --file text.txt`: perplexity of a model on a text. */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { InvalidArgumentError, IOError } from '../errors';
import { perplexity } from '../generate/perplexity';
import type { Command } from './command';
import { intOption, loadModelFromArgs, MODEL_OPTIONS } from './model-args';
import { stepProgress } from './progress';
import { out } from './stdout';

export const perplexityCommand: Command = {
  summary: 'perplexity of a model on a text file',
  usage: `usage: minimacllm perplexity --file TEXT [options]

Splits the text's tokens into non-overlapping windows of --ctx tokens, runs
each with BOS in front, and averages the NLL of every window token.

  -m, --model PATH     GGUF file, Hugging Face folder, or hf:org/repo[:QUANT] (default: stories260K)
  -f, --file PATH      the text (UTF-8)
  -c, --ctx N          window length in tokens (default 512)
  -w, --windows N      windows to score (default: all that fit)
  --backend NAME       auto | cpu | metal | metal-sim (default auto)
  -t, --threads N      CPU threads
  --kv-type TYPE       KV cache type: f16 | q8_0 | f32 (default f16)
  --huge-pages         Linux: read the weights into 2 MB pages, not through the file's mapping`,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: { ...MODEL_OPTIONS, file: { type: 'string', short: 'f' }, windows: { type: 'string', short: 'w' } },
    });
    if (!values.file) throw new InvalidArgumentError(`--file is required\n\n${this.usage}`);
    let text: string;
    try {
      text = fs.readFileSync(values.file, 'utf8');
    } catch (e) {
      throw new IOError(`cannot read ${values.file}: ${(e as Error).message}`, { cause: e });
    }
    const ctx = intOption(values, 'ctx', 2) ?? 512;
    const windows = intOption(values, 'windows', 1);
    const model = await loadModelFromArgs(values, { contextSize: ctx });
    const progress = stepProgress('perplexity');
    try {
      const t0 = performance.now();
      const r = await perplexity(model, text, {
        ctx,
        ...(windows !== undefined ? { windows } : {}),
        onWindow: (w, n, ppl) => progress.update(w, n, `ppl ${ppl.toFixed(4)}`),
      });
      progress.done();
      const s = (performance.now() - t0) / 1000;
      out(
        `perplexity: ${r.ppl.toFixed(4)} (${r.windows} windows of ${r.ctx} tokens, ${r.tokens} tokens scored, ${(r.tokens / s).toFixed(0)} tok/s)\n`,
      );
      return 0;
    } finally {
      progress.done();
      await model.dispose();
    }
  },
};
