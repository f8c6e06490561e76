/**
 * Validating tool-call arguments against the tool's JSON Schema with ajv
 * (+ ajv-formats), the field's standard validator, loaded on first use.
 * Draft 2020-12 by default; draft-07 for schemas that say so (`$schema`) or
 * use its array form of `items`.
 */
import type { ValidateFunction } from 'ajv';
import { InvalidArgumentError } from '../errors';
import type { ToolDefinition } from './tools';

interface AjvLike {
  compile(schema: object): ValidateFunction;
  errorsText(errors: ValidateFunction['errors'], options?: { dataVar?: string }): string;
}

let instances: { draft07: AjvLike; draft2020: AjvLike } | undefined;
const compiled = new WeakMap<object, ValidateFunction>();

function ajvFor(schema: Record<string, unknown>): AjvLike {
  if (!instances) {
    /* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use */
    const Ajv = (require('ajv') as typeof import('ajv')).default;
    const Ajv2020 = (require('ajv/dist/2020') as typeof import('ajv/dist/2020')).default;
    const addFormats = (require('ajv-formats') as typeof import('ajv-formats')).default;
    /* eslint-enable @typescript-eslint/no-require-imports */
    const draft07 = new Ajv({ strict: false, allErrors: false });
    const draft2020 = new Ajv2020({ strict: false, allErrors: false });
    addFormats(draft07);
    addFormats(draft2020);
    instances = { draft07, draft2020 };
  }
  const declared = typeof schema['$schema'] === 'string' ? schema['$schema'] : '';
  const old = /draft-0[4-7]/.test(declared) || Array.isArray(schema['items']);
  return old ? instances.draft07 : instances.draft2020;
}

const NO_ARGUMENTS = { type: 'object', maxProperties: 0 };

/** The tool's compiled validator (ERR_INVALID_ARG if its parameters are not a valid schema). */
export function argumentsValidator(tool: ToolDefinition): ValidateFunction {
  const schema = tool.parameters ?? NO_ARGUMENTS;
  let v = compiled.get(schema);
  if (!v) {
    try {
      v = ajvFor(schema).compile(schema);
    } catch (e) {
      throw new InvalidArgumentError(
        `the parameters of tool "${tool.name}" are not a valid JSON Schema: ${(e as Error).message}`,
      );
    }
    compiled.set(schema, v);
  }
  return v;
}

/** undefined if `args` is valid for the tool, else what is wrong. */
export function validateArguments(tool: ToolDefinition, args: unknown): string | undefined {
  const v = argumentsValidator(tool);
  if (v(args)) return undefined;
  const schema = tool.parameters ?? NO_ARGUMENTS;
  return `the arguments do not match the tool's schema: ${ajvFor(schema).errorsText(v.errors, { dataVar: 'arguments' })}`;
}
