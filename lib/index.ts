/**
 * minimacllm: run small language models locally from Node.js.
 * Public entry point (CommonJS; dist/index.mjs re-exports it for ESM).
 */
export * from './errors';
export { readGGUF, readGGUFSync, parseGGUFBuffer } from './gguf/reader';
export type { GGUFFile, GGUFTensorInfo } from './gguf/reader';
export { writeGGUF, writeGGUFSync, typed as ggufTyped } from './gguf/writer';
export type { GGUFWriteInput, GGUFWriteTensor, GGUFWriteValue, GGUFTypedValue } from './gguf/writer';
export { GGUFValueType, GGML_TYPES, ggmlTypeName } from './gguf/types';
export type { GGUFValue, GGMLTypeTraits } from './gguf/types';
export { readSafetensorsHeader, readSafetensorsHeaderSync } from './safetensors/header';
export type { SafetensorsHeader, SafetensorsTensor } from './safetensors/header';
export { describeModel, describeGGUF, describeGGUFSync, describeHF } from './model/description';
export type { ModelDescription, ModelHParams, TensorRef } from './model/description';
export { convert } from './convert';
export type { ConvertOptions, ConvertType } from './convert';
export { verifySha256, sha256File } from './checksum';
export { Backend, Graph, BACKEND_NAMES } from './backend';
export type { BackendName, GraphSpec, NodeSpec, OpName, OpParams, StepArgs, TensorSpec } from './backend';
export {
  add,
  attention,
  cpuInfo,
  dequantize,
  geglu,
  getRows,
  matmul,
  matrixBytes,
  mul,
  quantize,
  rmsNorm,
  rope,
  scale,
  softcap,
  softmax,
  storeRows,
  swiglu,
  typeInfo,
} from './ops';
export type { AttentionOptions, CpuInfo, OpOptions, RopeOptions, WeightMatrix, WeightType } from './ops';
export { DType } from './dtype';
export type { DTypeName } from './dtype';
export { loadTokenizer, MAX_TOKEN_ARRAY, Tokenizer } from './tokenizer';
export type { DetokenizeOptions, StreamingDecoder, TokenizeAsyncOptions, TokenizeOptions } from './tokenizer';
// Inference and generation API
export { loadModel, Model, ModelSequence } from './model/model';
export type { EmbedOptions, Pooling } from './model/embed';
export type { ModelInfo, ChatOptions, ChatResult, ChatStream, CreateContextOptions } from './model/model';
export { Context } from './model/context';
export type { EvaluateOptions } from './model/context';
export type { LoadModelOptions, LoadProgress, BackendChoice } from './model/options';
export type { KvType } from './model/kv-type';
export { setLogger, LOG_LEVELS } from './log';
export type { Logger, LogLevel, LogFunction, ConsoleLike } from './log';
// Hugging Face Hub: hf: sources, the shared hub cache
export { pullModel, listCachedModels, removeCachedModel, hubCacheDir, parseHubSource, isHubSource } from './hub';
export type {
  PullOptions,
  PullResult,
  CachedModel,
  RemoveResult,
  HubOptions,
  HubSource,
  DownloadProgress,
} from './hub';
export { GENERATE_DEFAULTS } from './generate/options';
export type { GenerateOptions, GenerationChunk, JsonSchema } from './generate/options';
export type { LogitsProcessor, LogitsContext } from './generate/constraint';
export type { GenerateResult, FinishReason } from './generate/generate';
export { perplexity } from './generate/perplexity';
export type { PerplexityOptions, PerplexityResult } from './generate/perplexity';
export { ChatTemplate, renderPlain } from './chat/template';
export type { ChatMessage, ChatRenderOptions, ChatTemplateOptions } from './chat/template';
export type { ChatTextPart, ToolCall } from './chat/messages';
export type { ToolDefinition, ToolChoice } from './chat/tools';
export type { InvalidToolCall } from './chat/tool-calls';
// Structured output: grammars and JSON Schema
export { Grammar } from './grammar/grammar';
export { GrammarError } from './grammar/gbnf';
export { jsonSchemaToGbnf } from './grammar/json-schema';
// OpenAI-compatible HTTP server (what `minimacllm serve` runs)
export { createServer, ModelServer } from './server/server';
export type { ServerOptions } from './server/server';
