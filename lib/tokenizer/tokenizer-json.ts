export function specFromTokenizerJson(_j: unknown, _c?: unknown): never { throw new Error("todo"); }
