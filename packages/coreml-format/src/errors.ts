/**
 * The one error type of this package. Every malformed input — a protobuf that does not
 * parse, a blob record with a bad sentinel, a manifest item that escapes the package —
 * is reported as a SilicaFormatError naming the file, the place in it (a field path or a
 * byte offset) and what was expected there.
 */

/** A field path (`itemInfoEntries["…"].path`) or an absolute byte offset in the file. */
export type FormatLocation = string | number | bigint;

export interface SilicaFormatErrorDetails {
  /** The file the problem is in (as given by the caller: usually an absolute path). */
  readonly file: string;
  /** Field path, or byte offset from the start of the file. */
  readonly where: FormatLocation;
  /** What the format requires at that place. */
  readonly expected: string;
  /** What was found instead, when there is something useful to show. */
  readonly found?: string;
}

export class SilicaFormatError extends Error {
  override readonly name = 'SilicaFormatError';
  readonly file: string;
  readonly where: FormatLocation;
  readonly expected: string;
  readonly found: string | undefined;

  constructor(details: SilicaFormatErrorDetails, options?: { cause?: unknown }) {
    super(formatErrorMessage(details), options);
    this.file = details.file;
    this.where = details.where;
    this.expected = details.expected;
    this.found = details.found;
  }
}

/**
 * `12345` → `byte offset 12345 (0x3039)`; a string is shown as a field path, except a
 * parenthesised place such as `(file)` or `(document)`, shown as is.
 */
export function describeLocation(where: FormatLocation): string {
  if (typeof where === 'string') return where.startsWith('(') ? where : `field ${where}`;
  return `byte offset ${where} (0x${where.toString(16)})`;
}

function formatErrorMessage(d: SilicaFormatErrorDetails): string {
  const found = d.found === undefined ? '' : `, found ${d.found}`;
  return `${d.file}: at ${describeLocation(d.where)}: expected ${d.expected}${found}`;
}

/** The message of a caught error (Node system errors already start with their code, e.g. `ENOENT: …`). */
export function errnoText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
