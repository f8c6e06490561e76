/**
 * GBNF: every syntax feature of llama.cpp's format parses and matches what
 * it should (Grammar.matches runs the same byte automaton the token masks
 * use), malformed grammars are ERR_INVALID_ARG with line and column, and
 * left recursion / unknown rules are reported by name. No model needed.
 */
import { Grammar } from '../lib/grammar/grammar';
import { GrammarError } from '../lib/grammar/gbnf';

function lang(gbnf: string, yes: string[], no: string[]): void {
  const g = new Grammar(gbnf);
  for (const s of yes) expect([s, g.matches(s)]).toEqual([s, true]);
  for (const s of no) expect([s, g.matches(s)]).toEqual([s, false]);
}

describe('GBNF syntax', () => {
  test('literals, sequences, alternation, grouping', () => {
    lang('root ::= "ab" ("c" | "de") "f"', ['abcf', 'abdef'], ['abf', 'abcdef', 'ab', '']);
    lang('root ::= "x" | ', ['x', ''], ['xx']);
    lang('root ::= ("a" | "b" ("c" | "d"))', ['a', 'bc', 'bd'], ['b', 'ac']);
  });

  test('* + ? {m} {m,} {m,n} (spaces allowed inside braces)', () => {
    lang('root ::= "a"* "b"+ "c"?', ['b', 'aabbb', 'abc', 'bc'], ['', 'ac', 'abcc']);
    lang('root ::= "ab"{3}', ['ababab'], ['abab', 'abababab']);
    lang('root ::= "a"{2,}', ['aa', 'aaaaaaa'], ['a', '']);
    lang('root ::= [0-9]{ 1 , 3 }', ['1', '12', '123'], ['', '1234']);
    lang('root ::= "a"{0,1} "b"{0}', ['', 'a'], ['aa', 'b']);
    // Large counts (counted loops): exact bounds.
    const g = new Grammar('root ::= [a-z]{10,200} "!"');
    expect(g.matches('a'.repeat(9) + '!')).toBe(false);
    expect(g.matches('a'.repeat(10) + '!')).toBe(true);
    expect(g.matches('b'.repeat(200) + '!')).toBe(true);
    expect(g.matches('b'.repeat(201) + '!')).toBe(false);
    lang('root ::= ("ab" | "c"){7,}', ['abcabcabcc', 'ccccccc', 'ab'.repeat(20)], ['cccccc', 'ccccccca']);
  });

  test('character classes: ranges, negation, escapes, non-ASCII', () => {
    lang('root ::= [a-cx]', ['a', 'b', 'c', 'x'], ['d', 'ab', '']);
    lang('root ::= [^a-z]', ['A', '0', 'é', '😀', '\n'], ['q', '']);
    lang('root ::= [\\]\\[\\-\\\\]', [']', '[', '-', '\\'], ['a']);
    lang('root ::= [α-ω]+', ['λόγος'.replace('ό', 'ο')], ['abc']);
    lang('root ::= [\\x41-\\x43\\u00e9\\U0001F600]', ['A', 'C', 'é', '😀'], ['D', 'e']);
    lang('root ::= [a-]', ['a', '-'], ['b']);
  });

  test('literal escapes: \\n \\r \\t \\\\ \\" \\xHH \\uHHHH \\UHHHHHHHH', () => {
    lang('root ::= "a\\nb\\tc\\r\\\\\\""', ['a\nb\tc\r\\"'], ['anbtc']);
    lang('root ::= "\\x41\\u00e9\\U0001F600"', ['Aé😀'], ['A']);
    lang('root ::= "日本"', ['日本'], ['日']);
  });

  test('. matches any one character, multi-byte included', () => {
    lang('root ::= "<" . ">"', ['<a>', '<é>', '<😀>', '<\n>'], ['<>', '<ab>']);
  });

  test('comments, blank lines, rules across lines after | and ::= and inside parentheses', () => {
    const gbnf = `
# a comment line
root ::= # after the operator
  item ("," item)*   # trailing comment

item ::=
    "x" |
    "y" | # alternatives continue after |
    (
      "z"
      | "w"
      "z"
    )
`;
    lang(gbnf, ['x', 'x,y', 'z,x', 'wz'], ['zz', 'x,']);
    // As in llama.cpp, a new line outside parentheses ends the rule: "| ..." on the next line is an error.
    expect(() => new Grammar('root ::= "a"\n  | "b"')).toThrow(/line 2, column 3: expected a rule name/);
  });

  test('rule references and recursion (right recursion, nesting)', () => {
    lang('root ::= "(" root ")" | ""', ['', '()', '((()))'], ['(()', ')(']);
    lang(
      'root ::= list\nlist ::= "[" (item ("," item)*)? "]"\nitem ::= [0-9] | list',
      ['[]', '[1,[2,[]],3]'],
      ['[1,]'],
    );
  });

  test('CRLF line endings', () => {
    lang('root ::= a b\r\na ::= "a"\r\nb ::= "b"\r\n', ['ab'], ['a']);
  });

  test('a custom start rule', () => {
    const g = new Grammar('a ::= "x" b\nb ::= "y"', { root: 'a' });
    expect(g.matches('xy')).toBe(true);
  });
});

describe('GBNF errors', () => {
  const err = (gbnf: string): GrammarError => {
    try {
      new Grammar(gbnf);
    } catch (e) {
      expect(e).toBeInstanceOf(GrammarError);
      expect((e as GrammarError).code).toBe('ERR_INVALID_ARG');
      return e as GrammarError;
    }
    throw new Error(`no error for ${gbnf}`);
  };

  test.each([
    ['root ::= "abc', 1, 10, /unterminated literal/],
    ['root ::= [abc', 1, 10, /unterminated character class/],
    ['root ::= "a"\nfoo = "b"', 2, 5, /expected "::=" after rule name "foo"/],
    ['root ::= "a" )', 1, 14, /unexpected "\)"/],
    ['root ::= ("a" | "b"', 1, 20, /expected "\)" to close the "\(" at line 1, column 10/],
    ['root ::= "\\q"', 1, 11, /unknown escape "\\q"/],
    ['root ::= "\\x4"', 1, 13, /expected 2 hex digits/],
    ['root ::= [z-a]', 1, 11, /out of order/],
    ['root ::= "a"{3,2}', 1, 13, /maximum below its minimum/],
    ['root ::= "a"{x}', 1, 14, /expected an integer/],
    ['root ::= * "a"', 1, 10, /need an item before them/],
    ['root ::= []', 1, 10, /empty character class/],
    ['root ::= "a"\nroot ::= "b"', 2, 1, /already defined at line 1/],
    ['\n\n  root ::= "a" "b"\n    "c"', 4, 5, /expected a rule name|expected "::="/],
  ])('%j → line %d, column %d', (gbnf, line, column, message) => {
    const e = err(gbnf);
    expect([e.line, e.column]).toEqual([line, column]);
    expect(e.message).toMatch(message);
    expect(e.message).toContain(`line ${line}, column ${column}`);
  });

  test('an unknown rule is named, where it is used', () => {
    const e = err('root ::= item\nitem ::= "a" thing');
    expect(e.message).toMatch(/undefined rule "thing"/);
    expect([e.line, e.column]).toEqual([2, 14]);
  });

  test('missing root', () => {
    expect(err('item ::= "a"').message).toMatch(/no "root" rule/);
    expect(err('# nothing').message).toMatch(/no rules/);
  });

  test('left recursion is named, direct or through nullable rules', () => {
    expect(err('root ::= root "a" | "b"').message).toMatch(/rule "root" is left-recursive \(root -> root\)/);
    const e = err('root ::= expr\nexpr ::= opt term\nopt ::= "-"?\nterm ::= expr "+" | "x"');
    expect(e.message).toMatch(/left-recursive \(expr -> term -> expr\)/);
    expect(e.line).toBe(2);
  });

  test('a grammar that can never finish is rejected', () => {
    expect(() => new Grammar('root ::= "a" root')).toThrow(/matches nothing/);
  });

  test('non-string input', () => {
    expect(() => new Grammar(42 as unknown as string)).toThrow(/GBNF/);
  });
});
