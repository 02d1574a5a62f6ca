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
