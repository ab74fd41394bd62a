/**
 * Configuration files: YAML or JSON (YAML 1.2 is a superset of JSON, so one
 * parser reads both) whose top level has the ApplyConfigRequest field names.
 * Tables take the file form parse.ts accepts (compact port strings, tcp/udp).
 */
import { readFile } from 'node:fs/promises';
import { yaml } from './yaml.js';
import type { DrainPolicy, Table, Violation } from './model.js';
import { checkKnownFields, describeValue, field, isFields, parseTables, readBoolean, readRequestDrain } from './parse.js';

export interface ConfigFile {
  tables: Table[];
  /** Syntax errors (path: the source name, message with line and column) or field violations. */
  violations: Violation[];
  replaceAll: boolean;
  expectedGeneration?: number;
  validateOnly: boolean;
  terminateRemoved: boolean;
  /** The apply's drain policy (`drain: {mode: drain, timeout_ms: 5000}`), when the file sets one. */
  drain?: DrainPolicy;
}

const TOP_LEVEL_FIELDS = ['tables', 'replace_all', 'expected_generation', 'validate_only', 'terminate_removed', 'drain'];

function rejected(violations: Violation[]): ConfigFile {
  return { tables: [], violations, replaceAll: false, validateOnly: false, terminateRemoved: false };
}

/** uint64 on the wire: a number or, as proto JSON writes it, a decimal string. */
function readGeneration(value: unknown, out: Violation[]): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) return n;
  out.push({
    path: 'expected_generation',
    message: `must be a non-negative integer up to ${Number.MAX_SAFE_INTEGER}, got ${describeValue(value)}`,
  });
  return undefined;
}

/** Parses config text; `sourceName` names it in syntax errors. Never throws. */
export function parseConfigText(text: string, sourceName: string): ConfigFile {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    return rejected(
      doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return { path: sourceName, message: `line ${line}, column ${col}: ${e.message}` };
      }),
    );
  }
  let root: unknown;
  try {
    root = doc.toJS();
  } catch (err) {
    // toJS throws on alias abuse (e.g. exponential "billion laughs" expansion).
    return rejected([{ path: sourceName, message: (err as Error).message }]);
  }
  if (!isFields(root)) {
    const got = root === null ? 'an empty document' : describeValue(root);
    return rejected([
      { path: sourceName, message: `expected a mapping with ${TOP_LEVEL_FIELDS.join(', ')}, got ${got}` },
    ]);
  }

  const violations: Violation[] = [];
  checkKnownFields(root, TOP_LEVEL_FIELDS, '', violations);
  // An empty `tables:` (null) is an empty list, like an absent one.
  const parsed = parseTables(field(root, 'tables') ?? [], 'tables');
  violations.push(...parsed.violations);
  const expectedGeneration = readGeneration(field(root, 'expected_generation'), violations);
  const drain = readRequestDrain(field(root, 'drain'), 'drain', violations);
  return {
    ...(drain && { drain }),
    tables: parsed.tables,
    violations,
    replaceAll: readBoolean(root, 'replace_all', '', violations) ?? false,
    ...(expectedGeneration !== undefined && { expectedGeneration }),
    validateOnly: readBoolean(root, 'validate_only', '', violations) ?? false,
    terminateRemoved: readBoolean(root, 'terminate_removed', '', violations) ?? false,
  };
}

/** Reads and parses a YAML or JSON config file; throws only when the file cannot be read. */
export async function loadConfigFile(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read config file: ${(err as Error).message}`, { cause: err });
  }
  return parseConfigText(text, path);
}
