/** `minimacllm serve`: an OpenAI-compatible HTTP server for one model. */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createServer } from '../server/server';
import type { Command } from './command';
import { intOption, loadModelFromArgs, MODEL_OPTIONS, MODEL_USAGE } from './model-args';

export const serveCommand: Command = {
  summary: 'serve a model over an OpenAI-compatible HTTP API',
  usage: `usage: minimacllm serve [options]

Serves POST /v1/chat/completions, POST /v1/completions, GET /v1/models and
GET /health. Stops on SIGINT / SIGTERM: no new requests, in-flight replies
finish (or are cut after --shutdown-timeout seconds), exit 0.

${MODEL_USAGE}
  --host ADDR          address to bind (default 127.0.0.1: this machine only)
  --port N             port (default 8080; 0 = any free port)
  --parallel N         requests generating at once (default: 1)
  --queue N            requests waiting beyond those before 429 (default 64)
  --api-key KEY        require "Authorization: Bearer KEY" on /v1/*
                       (default: $MINIMACLLM_API_KEY if set)
  --cors               allow browsers on any origin (CORS headers)
  --alias NAME         model id clients use (default: the model file's name)
  --max-body BYTES     largest request body (default 1048576)
  --shutdown-timeout S seconds in-flight replies get on shutdown (default 10)
  -q, --quiet          no per-request log lines on stderr`,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        ...MODEL_OPTIONS,
        host: { type: 'string' },
        port: { type: 'string' },
        parallel: { type: 'string' },
        queue: { type: 'string' },
        'api-key': { type: 'string' },
        cors: { type: 'boolean', default: false },
        alias: { type: 'string' },
        'max-body': { type: 'string' },
        'shutdown-timeout': { type: 'string' },
        quiet: { type: 'boolean', short: 'q', default: false },
      },
    });
    const port = intOption(values, 'port', 0) ?? 8080;
    const parallel = intOption(values, 'parallel', 1);
    const queue = intOption(values, 'queue', 0);
    const maxBody = intOption(values, 'max-body', 1);
    const shutdownS = intOption(values, 'shutdown-timeout', 0) ?? 10;
    const apiKey = values['api-key'] ?? process.env['MINIMACLLM_API_KEY'];
    const model = await loadModelFromArgs(values);
    const source = typeof values.model === 'string' ? values.model : 'stories260K.gguf';
    const alias = values.alias ?? path.basename(source).replace(/\.gguf$/i, '');
    const log = values.quiet ? undefined : (line: string): void => void process.stderr.write(`${line}\n`);
    let server;
    try {
      server = createServer(model, {
        host: values.host ?? '127.0.0.1',
        port,
        modelId: alias,
        cors: values.cors,
        shutdownTimeoutMs: shutdownS * 1000,
        ...(apiKey ? { apiKey } : {}),
        ...(parallel !== undefined ? { parallel } : {}),
        ...(queue !== undefined ? { queue } : {}),
        ...(maxBody !== undefined ? { maxBodyBytes: maxBody } : {}),
        ...(log ? { log } : {}),
      });
      const { url } = await server.listen();
      process.stderr.write(`minimacllm serve: ${alias} (${model.info.backend}) on ${url}/v1\n`);
    } catch (e) {
      await model.dispose();
      throw e;
    }
    const s = server;
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        process.removeListener('SIGINT', onInt);
        process.removeListener('SIGTERM', onTerm);
        process.stderr.write(`minimacllm serve: ${signal}: finishing ${s.inflight} request(s)\n`);
        resolve();
      };
      const onInt = (): void => stop('SIGINT');
      const onTerm = (): void => stop('SIGTERM');
      process.once('SIGINT', onInt);
      process.once('SIGTERM', onTerm);
    });
    await s.close();
    await model.dispose();
    process.stderr.write('minimacllm serve: stopped\n');
    return 0;
  },
};
