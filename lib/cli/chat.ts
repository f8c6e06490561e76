/** `minimacllm chat`: an interactive conversation on stdin/stdout (readline). */
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import type { ChatMessage } from '../chat/template';
import type { Command } from './command';
import { chatWithinContext } from './chat-history';
import { loadModelFromArgs, MODEL_OPTIONS, MODEL_USAGE } from './model-args';
import { SAMPLING_OPTIONS, SAMPLING_USAGE, samplingFromArgs } from './generate';
import { onStdoutClosed, out, stdoutClosed } from './stdout';

export const chatCommand: Command = {
  summary: 'chat with a model interactively',
  usage: `usage: minimacllm chat [options]

Type a message and press enter; an empty line or Ctrl-D ends the chat,
Ctrl-C stops the current answer. When the conversation outgrows the context
(--ctx), its oldest turns are dropped (the system prompt stays).

${MODEL_USAGE}
${SAMPLING_USAGE}
  --system TEXT        system prompt`,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: { ...MODEL_OPTIONS, ...SAMPLING_OPTIONS, system: { type: 'string' } },
    });
    const options = samplingFromArgs(values);
    const model = await loadModelFromArgs(values);
    let dropped = false;
    const chat = chatWithinContext(model, () => {
      if (!dropped)
        process.stderr.write(
          `minimacllm chat: the conversation outgrew the context (${model.info.contextSize} tokens); dropping its oldest turns\n`,
        );
      dropped = true;
    });
    const messages: ChatMessage[] = values.system ? [{ role: 'system', content: values.system }] : [];
    const rl = readline.createInterface({
      input: process.stdin,
      output: process.stdout,
      terminal: process.stdin.isTTY === true,
    });
    let answering: AbortController | undefined;
    rl.on('SIGINT', () => {
      if (answering) answering.abort();
      else rl.close();
    });
    const lines = rl[Symbol.asyncIterator]();
    // A reader that goes away ends the chat quietly.
    const unwatch = onStdoutClosed(() => {
      answering?.abort();
      rl.close();
    });
    try {
      for (;;) {
        if (stdoutClosed()) break;
        out('> ');
        const next = await lines.next();
        if (next.done) break;
        const line = String(next.value).trim();
        if (line === '') break;
        messages.push({ role: 'user', content: line });
        answering = new AbortController();
        let first = true;
        const r = await chat(messages, {
          ...options,
          signal: answering.signal,
          onToken: (c) => {
            // The plain format's answers start with a space after "Assistant:".
            out(first ? c.text.replace(/^\s+/, '') : c.text);
            if (c.text.length > 0) first = false;
          },
        });
        answering = undefined;
        out('\n');
        messages.push(r.message);
      }
      return 0;
    } finally {
      unwatch();
      rl.close();
      await model.dispose();
    }
  },
};
