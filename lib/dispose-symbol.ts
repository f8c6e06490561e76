/**
 * Symbol.asyncDispose for `await using`: Node >= 20.4 defines it; on older Node 20 releases this
 * defines the same registered symbol Node uses, so TypeScript's and Node's `using` helpers agree.
 */
const S = Symbol as unknown as { asyncDispose?: symbol; dispose?: symbol };
S.asyncDispose ??= Symbol.for('nodejs.asyncDispose');
S.dispose ??= Symbol.for('nodejs.dispose');
export {};
