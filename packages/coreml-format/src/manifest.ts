/**
 * `Manifest.json` at the root of an `.mlpackage` (mlpackage-format.md §1, §2).
 *
 * Reading applies the rules of Core ML's ModelPackage library (§2.3) plus our own path
 * hygiene: an item path must be a plain relative path inside `Data/`, and after
 * resolving symlinks (realpath) it must still be inside `Data/`. Writing produces the
 * exact bytes nlohmann::json's `dump(4)` produces (§2.4): 4-space indent, keys in
 * ascending byte order at every level, `": "` separators, `/` unescaped, one `\n` at
 * the end.
 */
import { lstatSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, posix, relative, sep, win32 } from 'node:path';
import { SilicaFormatError, errnoText } from './errors.js';
import { deterministicIdentifier, randomIdentifier } from './uuid.js';

export const MANIFEST_FILE_NAME = 'Manifest.json';
export const MANIFEST_DATA_DIR = 'Data';
export const MANIFEST_FILE_FORMAT_VERSION = '1.0.0';
/** The author string coremltools always uses (§1). */
export const COREML_AUTHOR = 'com.apple.CoreML';
export const MODEL_ITEM_NAME = 'model.mlmodel';
export const MODEL_ITEM_DESCRIPTION = 'CoreML Model Specification';
export const WEIGHTS_ITEM_NAME = 'weights';
export const WEIGHTS_ITEM_DESCRIPTION = 'CoreML Model Weights';

/** One `itemInfoEntries` value (§2.1): all four keys are mandatory strings. */
export interface ManifestItem {
  readonly author: string;
  readonly description: string;
  readonly name: string;
  /** Location relative to `Data/`, `/`-separated (coremltools: `author/name`). */
  readonly path: string;
}

export interface Manifest {
  readonly fileFormatVersion: string;
  /** Item identifier → item. Identifiers are opaque strings (UUIDs in practice, §2.2). */
  readonly itemInfoEntries: Readonly<Record<string, ManifestItem>>;
  readonly rootModelIdentifier: string;
}

export interface ManifestEntry {
  readonly identifier: string;
  readonly item: ManifestItem;
}

const ITEM_KEYS = ['author', 'description', 'name', 'path'] as const;

const entryWhere = (id: string, key?: string): string =>
  `itemInfoEntries[${JSON.stringify(id)}]${key === undefined ? '' : `.${key}`}`;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describeJson(v: unknown): string {
  if (v === undefined) return 'nothing (key missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return `${typeof v === 'object' ? 'an object' : `the ${typeof v} ${String(v)}`}`;
}

/**
 * `fileFormatVersion` must be three dot-separated non-negative integers and not newer
 * than 1.0.0 (§2.3).
 */
function checkFileFormatVersion(v: unknown, file: string): string {
  const m = typeof v === 'string' ? /^(\d+)\.(\d+)\.(\d+)$/.exec(v) : null;
  if (!m) {
    throw new SilicaFormatError({
      file,
      where: 'fileFormatVersion',
      expected: 'a version string of three dot-separated non-negative integers, e.g. "1.0.0"',
      found: describeJson(v),
    });
  }
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const newer = major > 1 || (major === 1 && (minor > 0 || (minor === 0 && patch > 0)));
  if (newer) {
    throw new SilicaFormatError({
      file,
      where: 'fileFormatVersion',
      expected: `a file format version not newer than ${MANIFEST_FILE_FORMAT_VERSION}`,
      found: JSON.stringify(v),
    });
  }
  return v as string;
}

/**
 * Lexical check of an item path: relative, `/`-separated plain names — no absolute
 * path, drive letter, backslash, NUL, empty, `.` or `..` segment.
 */
function checkItemPath(path: string, file: string, where: string): void {
  const segments = path.split('/');
  const bad =
    path === '' ||
    path.includes('\\') ||
    path.includes('\0') ||
    posix.isAbsolute(path) ||
    win32.isAbsolute(path) ||
    /^[A-Za-z]:/.test(path) ||
    segments.some((s) => s === '' || s === '.' || s === '..');
  if (bad) {
    throw new SilicaFormatError({
      file,
      where,
      expected: `a relative path inside ${MANIFEST_DATA_DIR}/ made of plain names separated by "/" (no absolute path, "..", "." or empty segment, backslash or NUL)`,
      found: JSON.stringify(path),
    });
  }
}

/**
 * Parses and validates manifest text (structure only; see {@link readManifest} for the
 * on-disk checks). Unknown keys are ignored and not kept.
 */
export function parseManifest(text: string, file = MANIFEST_FILE_NAME): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const pos = /position (\d+)/.exec(errnoText(err));
    throw new SilicaFormatError(
      {
        file,
        where: pos ? Number(pos[1]) : '(document)',
        expected: 'a JSON document',
        found: `a syntax error: ${errnoText(err)}`,
      },
      { cause: err },
    );
  }
  if (!isPlainObject(json)) {
    throw new SilicaFormatError({ file, where: '(document)', expected: 'a JSON object at the top level', found: describeJson(json) });
  }
  const fileFormatVersion = checkFileFormatVersion(json.fileFormatVersion, file);
  const rawEntries = json.itemInfoEntries;
  if (!isPlainObject(rawEntries)) {
    throw new SilicaFormatError({
      file,
      where: 'itemInfoEntries',
      expected: 'an object mapping item identifiers to item info objects',
      found: describeJson(rawEntries),
    });
  }
  const entries: [string, ManifestItem][] = [];
  for (const [id, raw] of Object.entries(rawEntries)) {
    if (!isPlainObject(raw)) {
      throw new SilicaFormatError({ file, where: entryWhere(id), expected: 'an item info object', found: describeJson(raw) });
    }
    for (const key of ITEM_KEYS) {
      if (typeof raw[key] !== 'string') {
        throw new SilicaFormatError({
          file,
          where: entryWhere(id, key),
          expected: `a string (every item needs ${ITEM_KEYS.join(', ')})`,
          found: describeJson(raw[key]),
        });
      }
    }
    const item: ManifestItem = {
      author: raw.author as string,
      description: raw.description as string,
      name: raw.name as string,
      path: raw.path as string,
    };
    checkItemPath(item.path, file, entryWhere(id, 'path'));
    entries.push([id, item]);
  }
  const root = json.rootModelIdentifier;
  if (typeof root !== 'string') {
    throw new SilicaFormatError({ file, where: 'rootModelIdentifier', expected: 'a string item identifier', found: describeJson(root) });
  }
  if (!entries.some(([id]) => id === root)) {
    throw new SilicaFormatError({
      file,
      where: 'rootModelIdentifier',
      expected: `the identifier of an item in itemInfoEntries (${entries.map(([id]) => id).join(', ') || 'none'})`,
      found: JSON.stringify(root),
    });
  }
  return { fileFormatVersion, itemInfoEntries: Object.fromEntries(entries), rootModelIdentifier: root };
}

/** `true` when `child` is `parent` itself or below it (both already resolved). */
function isWithin(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Reads `<pkgPath>/Manifest.json` and validates it (§2.3): structure and version, every
 * item's `Data/<path>` exists and — after resolving symlinks — lies inside `Data/`, the
 * root model item is a file.
 */
export function readManifest(pkgPath: string): Manifest {
  const file = join(pkgPath, MANIFEST_FILE_NAME);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SilicaFormatError(
      { file, where: '(file)', expected: `a ${MANIFEST_FILE_NAME} at the package root`, found: errnoText(err) },
      { cause: err },
    );
  }
  const manifest = parseManifest(text, file);

  const dataDir = join(pkgPath, MANIFEST_DATA_DIR);
  let realPkg: string;
  let realData: string;
  try {
    realPkg = realpathSync(pkgPath);
    realData = realpathSync(dataDir);
  } catch (err) {
    throw new SilicaFormatError(
      { file: dataDir, where: '(directory)', expected: `a ${MANIFEST_DATA_DIR}/ directory next to ${MANIFEST_FILE_NAME}`, found: errnoText(err) },
      { cause: err },
    );
  }
  if (!isWithin(realPkg, realData) || !statSync(realData).isDirectory()) {
    throw new SilicaFormatError({
      file: dataDir,
      where: '(directory)',
      expected: `a ${MANIFEST_DATA_DIR}/ directory inside the package`,
      found: `${realData}`,
    });
  }
  for (const [id, item] of Object.entries(manifest.itemInfoEntries)) {
    const full = itemPath(pkgPath, item);
    let real: string;
    try {
      lstatSync(full);
      real = realpathSync(full);
    } catch (err) {
      throw new SilicaFormatError(
        { file, where: entryWhere(id, 'path'), expected: `an existing file or directory at ${MANIFEST_DATA_DIR}/${item.path}`, found: errnoText(err) },
        { cause: err },
      );
    }
    if (!isWithin(realData, real) || real === realData) {
      throw new SilicaFormatError({
        file,
        where: entryWhere(id, 'path'),
        expected: `${MANIFEST_DATA_DIR}/${item.path} to resolve inside ${realData}`,
        found: `a link to ${real}`,
      });
    }
    if (id === manifest.rootModelIdentifier && !statSync(real).isFile()) {
      throw new SilicaFormatError({
        file,
        where: entryWhere(id, 'path'),
        expected: `the root model ${MANIFEST_DATA_DIR}/${item.path} to be a file`,
        found: 'a directory or special file',
      });
    }
  }
  return manifest;
}

/** Absolute location of an item: `<pkgPath>/Data/<item.path>`. */
export function itemPath(pkgPath: string, item: ManifestItem): string {
  return join(pkgPath, MANIFEST_DATA_DIR, ...item.path.split('/'));
}

/** Byte-wise (UTF-8) key order, as std::map<std::string> orders nlohmann's objects. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** nlohmann::json string escaping with ensure_ascii = false. */
function quote(s: string, where: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const pair = c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      if (!pair) {
        throw new SilicaFormatError({ file: MANIFEST_FILE_NAME, where, expected: 'a string of valid Unicode', found: `a lone surrogate at index ${i}` });
      }
      out += s[i] + s[i + 1];
      i++;
      continue;
    }
    switch (c) {
      case 0x22: out += '\\"'; break;
      case 0x5c: out += '\\\\'; break;
      case 0x08: out += '\\b'; break;
      case 0x09: out += '\\t'; break;
      case 0x0a: out += '\\n'; break;
      case 0x0c: out += '\\f'; break;
      case 0x0d: out += '\\r'; break;
      default:
        out += c < 0x20 ? `\\u${c.toString(16).padStart(4, '0')}` : s[i];
    }
  }
  return `${out}"`;
}

type JsonTree = string | { readonly [key: string]: JsonTree };

function dump(v: JsonTree, depth: number, where: string): string {
  if (typeof v === 'string') return quote(v, where);
  const keys = Object.keys(v).sort(compareBytes);
  if (keys.length === 0) return '{}';
  const pad = '    '.repeat(depth + 1);
  const members = keys.map((k) => `${pad}${quote(k, where)}: ${dump(v[k], depth + 1, where === '' ? k : `${where}.${k}`)}`);
  return `{\n${members.join(',\n')}\n${'    '.repeat(depth)}}`;
}

/** The exact text Core ML's ModelPackage writes for `manifest` (§2.4), ending in "\n". */
export function formatManifest(manifest: Manifest): string {
  const entries: Record<string, JsonTree> = {};
  for (const [id, item] of Object.entries(manifest.itemInfoEntries)) {
    entries[id] = { author: item.author, description: item.description, name: item.name, path: item.path };
  }
  const tree: JsonTree = {
    fileFormatVersion: manifest.fileFormatVersion,
    itemInfoEntries: entries,
    rootModelIdentifier: manifest.rootModelIdentifier,
  };
  return `${dump(tree, 0, '')}\n`;
}

/**
 * Writes `<pkgPath>/Manifest.json` (creating `pkgPath` if needed) after validating the
 * manifest's structure; the file is replaced atomically (temp file + rename).
 */
export function writeManifest(pkgPath: string, manifest: Manifest): void {
  const file = join(pkgPath, MANIFEST_FILE_NAME);
  const text = formatManifest(manifest);
  parseManifest(text, file);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(pkgPath, { recursive: true });
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new SilicaFormatError({ file, where: '(file)', expected: 'a writable package directory', found: errnoText(err) }, { cause: err });
  }
}

export interface CreateManifestOptions {
  /**
   * Derive the item identifiers from this string (name-based UUIDs), so the same seed
   * always gives the same manifest. Default: fresh random upper-case UUIDs.
   */
  readonly seed?: string;
  /** Register the `weights` directory item (default true: coremltools always does, §1). */
  readonly weights?: boolean;
}

/** The manifest coremltools writes for an ML Program package (§2.1). */
export function createManifest(options: CreateManifestOptions = {}): Manifest {
  const id = (name: string): string => (options.seed === undefined ? randomIdentifier() : deterministicIdentifier(options.seed, name));
  const modelId = id(MODEL_ITEM_NAME);
  const entries: Record<string, ManifestItem> = {
    [modelId]: {
      author: COREML_AUTHOR,
      description: MODEL_ITEM_DESCRIPTION,
      name: MODEL_ITEM_NAME,
      path: `${COREML_AUTHOR}/${MODEL_ITEM_NAME}`,
    },
  };
  if (options.weights !== false) {
    entries[id(WEIGHTS_ITEM_NAME)] = {
      author: COREML_AUTHOR,
      description: WEIGHTS_ITEM_DESCRIPTION,
      name: WEIGHTS_ITEM_NAME,
      path: `${COREML_AUTHOR}/${WEIGHTS_ITEM_NAME}`,
    };
  }
  return { fileFormatVersion: MANIFEST_FILE_FORMAT_VERSION, itemInfoEntries: entries, rootModelIdentifier: modelId };
}

/** The root model item, found through `rootModelIdentifier` (§2.3). */
export function rootModelEntry(manifest: Manifest, file = MANIFEST_FILE_NAME): ManifestEntry {
  const item = Object.prototype.hasOwnProperty.call(manifest.itemInfoEntries, manifest.rootModelIdentifier)
    ? manifest.itemInfoEntries[manifest.rootModelIdentifier]
    : undefined;
  if (item === undefined) {
    throw new SilicaFormatError({
      file,
      where: 'rootModelIdentifier',
      expected: 'the identifier of an item in itemInfoEntries',
      found: JSON.stringify(manifest.rootModelIdentifier),
    });
  }
  return { identifier: manifest.rootModelIdentifier, item };
}

/**
 * The first item (in identifier byte order, like ModelPackage's std::map) with this
 * name and author, or undefined.
 */
export function findItem(manifest: Manifest, name: string, author: string = COREML_AUTHOR): ManifestEntry | undefined {
  const ids = Object.keys(manifest.itemInfoEntries).sort(compareBytes);
  for (const identifier of ids) {
    const item = manifest.itemInfoEntries[identifier];
    if (item.name === name && item.author === author) return { identifier, item };
  }
  return undefined;
}

/** The weights directory item: name `weights`, author `com.apple.CoreML` (§2.3). */
export function weightsEntry(manifest: Manifest): ManifestEntry | undefined {
  return findItem(manifest, WEIGHTS_ITEM_NAME, COREML_AUTHOR);
}
