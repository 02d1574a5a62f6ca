/**
 * The two kinds of bad input mc reports with exit code 2. Both carry a one-line message that
 * says what is wrong, where, and what is valid; the CLI prints it without a stack trace.
 */

/** Bad command-line input: an unknown option value, property or parameter. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A model that breaks the contract: throws, is not deterministic, has a malformed state. */
export class ModelError extends Error {
  override name = 'ModelError';
}

/**
 * A resource of the search ran out (the state store, a shared table, the text table): the run
 * ends as incomplete with its counts, not as an error.
 */
export class CapacityError extends Error {
  override name = 'CapacityError';
}

/** What was thrown, as text: an Error's message, anything else as a string. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Wraps what a model's code threw, with where it happened (`model "x": lanes() threw`); a
 * resource that ran out (CapacityError) stays what it is.
 */
export function modelFailure(what: string, e: unknown): Error {
  return e instanceof CapacityError ? e : new ModelError(`${what}: ${errorMessage(e)}`, { cause: e });
}
