/** `minimacllm generate [prompt]`: streams a completion to stdout, timings to stderr. */
import { parseArgs } from 'node:util';
import type { GenerateOptions } from '../generate/options';
import type { Command } from './command';
import { intOption, loadModelFromArgs, MODEL_OPTIONS, MODEL_USAGE, numberOption } from './model-args';
import { onStdoutClosed, out, stdoutClosed } from './stdout';

export function samplingFromArgs(values: Record<string, unknown>): GenerateOptions {
  const o: GenerateOptions = {};
  const maxTokens = intOption(values, 'max-tokens', 1);
  const temperature = numberOption(values, 'temperature');
  const topK = intOption(values, 'top-k', 0);
  const topP = numberOption(values, 'top-p');
  const minP = numberOption(values, 'min-p');
  const repeatPenalty = numberOption(values, 'repeat-penalty');
  const seed = intOption(values, 'seed', 0);
  if (maxTokens !== undefined) o.maxTokens = maxTokens;
  if (temperature !== undefined) o.temperature = temperature;
  if (topK !== undefined) o.topK = topK;
  if (topP !== undefined) o.topP = topP;
  if (minP !== undefined) o.minP = minP;
  if (repeatPenalty !== undefined) o.repeatPenalty = repeatPenalty;
  if (seed !== undefined) o.seed = seed;
  return o;
}

export const SAMPLING_OPTIONS = {
  'max-tokens': { type: 'string', short: 'n' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  'repeat-penalty': { type: 'string' },
  seed: { type: 'string', short: 's' },
} as const;

export const SAMPLING_USAGE = `  -n, --max-tokens N   tokens to generate (default 256)
  --temperature T      0 = greedy (default 0.8)
  --top-k K            (default 40; 0 = off)
  --top-p P            (default 0.95)
  --min-p P            (default 0.05)
  --repeat-penalty R   (default 1.0 = off)
  -s, --seed N         sampler seed (default random)`;

export const generateCommand: Command = {
  summary: 'generate text from a prompt (default model: the embedded stories260K)',
  usage: `usage: minimacllm generate [prompt] [options]

Streams the completion of the prompt to stdout; timings go to stderr.
The prompt defaults to empty (the model starts from BOS).

${MODEL_USAGE}
${SAMPLING_USAGE}
  --stop TEXT          stop at this text (repeatable)
  -q, --quiet          no timings on stderr`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...MODEL_OPTIONS,
        ...SAMPLING_OPTIONS,
        stop: { type: 'string', multiple: true },
        quiet: { type: 'boolean', short: 'q', default: false },
      },
    });
    const prompt = positionals.join(' ');
    const options = samplingFromArgs(values);
    if (values.stop) options.stop = values.stop;
    const model = await loadModelFromArgs(values);
    const ac = new AbortController();
    const onSigint = (): void => ac.abort();
    process.once('SIGINT', onSigint);
    // A reader that goes away (`| head`) ends generation quietly.
    const unwatch = onStdoutClosed(() => ac.abort());
    try {
      out(prompt);
      const r = await model.generate(prompt, {
        ...options,
        signal: ac.signal,
        onToken: (c) => out(c.text),
      });
      out('\n');
      if (!values.quiet && !stdoutClosed()) {
        const t = r.timings;
        process.stderr.write(
          `[${model.info.name} on ${model.info.backend}] prompt: ${r.usage.promptTokens} tokens, ${t.promptMs.toFixed(1)} ms (${t.promptTokensPerSecond.toFixed(1)} tok/s); ` +
            `generated: ${r.usage.completionTokens} tokens, ${t.generateMs.toFixed(1)} ms (${t.generateTokensPerSecond.toFixed(1)} tok/s); finish: ${r.finishReason}\n`,
        );
      }
      return 0;
    } finally {
      unwatch();
      process.removeListener('SIGINT', onSigint);
      await model.dispose();
    }
  },
};
