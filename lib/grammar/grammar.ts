/**
 * Grammar: a checked, compiled GBNF grammar, reusable across generations and
 * models. Its token masks are cached per tokenizer, so the second generation
 * with the same grammar starts with every mask the first one computed.
 */
import { InvalidArgumentError } from '../errors';
import type { Tokenizer } from '../tokenizer/tokenizer';
import type { GrammarAst } from './ast';
import type { Automaton } from './automaton';
import { compileGrammar } from './compile';
import { parseGBNF } from './gbnf';
import { jsonSchemaToGbnf } from './json-schema';
import { MaskEngine } from './masks';
import { GrammarMatcher } from './matcher';
import { tokenTrie, type TokenTrie } from './token-trie';

const utf8 = new TextEncoder();

export class Grammar {
  /** The grammar in GBNF. */
  readonly gbnf: string;
  /** The rule generation starts from. */
  readonly root: string;
  readonly #automaton: Automaton;
  readonly #engines = new WeakMap<TokenTrie, MaskEngine>();
  #plain: MaskEngine | undefined;

  /** Parses and compiles GBNF text (ERR_INVALID_ARG with line and column if malformed). */
  constructor(gbnf: string, options: { root?: string } = {}) {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
    const root = options.root ?? 'root';
    if (typeof root !== 'string' || root.length === 0) throw new InvalidArgumentError('root must be a rule name');
    const ast: GrammarAst = parseGBNF(gbnf, root);
    this.gbnf = gbnf;
    this.root = root;
    this.#automaton = compileGrammar(ast);
  }

  /** The grammar of JSON documents valid against `schema` (ERR_UNSUPPORTED names a keyword it can't enforce). */
  static fromJsonSchema(schema: unknown): Grammar {
    return new Grammar(jsonSchemaToGbnf(schema));
  }

  /** Whether `text` as a whole is a sentence of the grammar. */
  matches(text: string): boolean {
    if (typeof text !== 'string') throw new InvalidArgumentError('text must be a string');
    this.#plain ??= new MaskEngine(this.#automaton);
    const m = new GrammarMatcher(this.#plain);
    return m.acceptBytes(utf8.encode(text)) && m.complete;
  }

  /** @internal A matcher for one generation with this tokenizer. */
  async matcher(tokenizer: Tokenizer): Promise<GrammarMatcher> {
    return new GrammarMatcher(await this.engine(tokenizer));
  }

  /** @internal The mask engine (and its caches) for this tokenizer. */
  async engine(tokenizer: Tokenizer): Promise<MaskEngine> {
    const trie = await tokenTrie(tokenizer);
    let e = this.#engines.get(trie);
    if (!e) {
      e = new MaskEngine(this.#automaton, trie);
      this.#engines.set(trie, e);
    }
    return e;
  }
}
