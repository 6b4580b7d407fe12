/** Every problem `mergeFunctions` reports: bad items or options, or a source it cannot move. */
export class MergeError extends Error {
  override readonly name = 'MergeError';
}
