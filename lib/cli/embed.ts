/** `minimacllm embed [text…] --model SRC`: embedding vectors as JSON. */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors';
import { POOLINGS, type Pooling } from '../model/embed';
import type { Command } from './command';
import { loadModelFromArgs, MODEL_OPTIONS, MODEL_USAGE } from './model-args';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const embedCommand: Command = {
  summary: 'embedding vectors of texts, as JSON',
  usage: `usage: minimacllm embed [TEXT ...] [options]

Prints one JSON array of numbers per text (a JSON array of them for several
texts). Without TEXT, each line of standard input is a text.

${MODEL_USAGE}
  --pooling MODE       mean | cls | last | none (default: the model's pooling type, else mean)
  --no-normalize       keep the vectors' length (default: unit length)`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...MODEL_OPTIONS, pooling: { type: 'string' }, 'no-normalize': { type: 'boolean' } },
      allowPositionals: true,
    });
    const pooling = values.pooling as Pooling | undefined;
    if (pooling !== undefined && !POOLINGS.includes(pooling))
      throw new InvalidArgumentError(`--pooling must be one of ${POOLINGS.join(', ')}, got ${JSON.stringify(pooling)}`);
    const texts =
      positionals.length > 0 ? positionals : (await readStdin()).split('\n').filter((l) => l.trim().length > 0);
    if (texts.length === 0) throw new InvalidArgumentError(`no text to embed\n\n${this.usage}`);
    const model = await loadModelFromArgs(values);
    try {
      const vectors = await model.embed(texts, {
        ...(pooling !== undefined && { pooling }),
        normalize: values['no-normalize'] !== true,
      });
      const json = vectors.map((v) => `[${Array.from(v).join(',')}]`);
      process.stdout.write(json.length === 1 ? `${json[0]}\n` : `[${json.join(',\n')}]\n`);
      return 0;
    } finally {
      await model.dispose();
    }
  },
};
