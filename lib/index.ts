/**
 * minimacllm: run small language models locally from Node.js.
 * Public entry point (CommonJS; dist/index.mjs re-exports it for ESM).
 */
export * from './errors';
