/**
 * The authorization policy (`--auth-policy FILE`, YAML): which callers get
 * which role, optionally only for some tables.
 *
 *   tokens:                      # bearer-token id -> sha256 hash of the token
 *     ci-bot: sha256:9f86d0...
 *   grants:
 *     - uid: 0                   # exactly one of uid, gid, cert_subject, cert_san, token
 *       role: admin              # reader | operator | admin
 *     - token: ci-bot
 *       role: admin
 *       tables: [ci, "ci-*"]     # optional: only these tables
 *
 * Without a policy file only the daemon's own uid is admitted, as admin.
 * Every problem of a file is reported at once, with its path.
 */
import { readFile } from 'node:fs/promises';
import { yaml } from '../config/yaml.js';
import { isRole, type Role } from './roles.js';
import { compileTablePattern, isTablePattern } from './table-pattern.js';
import { isTokenHash, TOKEN_ID_PATTERN } from './tokens.js';

export type Selector =
  | { kind: 'uid'; uid: number }
  | { kind: 'gid'; gid: number }
  | { kind: 'cert_subject'; subject: string }
  | { kind: 'cert_san'; san: string }
  | { kind: 'token'; tokenId: string };

export interface Grant {
  selector: Selector;
  role: Role;
  /** Table-name patterns; undefined means every table. */
  tables?: string[];
  /** Whether the grant reaches `table` (always true for an unscoped grant). */
  covers(table: string): boolean;
  /** Where the grant came from, for messages: e.g. `policy.yaml grants[2]`. */
  label: string;
}

export interface AuthPolicy {
  /** The file, or a description of the built-in default. */
  source: string;
  /** Bearer-token id -> `sha256:` hash. */
  tokens: ReadonlyMap<string, string>;
  grants: readonly Grant[];
}

export class PolicyError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`auth policy ${source} is invalid:\n  ${problems.join('\n  ')}`);
    this.name = 'PolicyError';
  }
}

const SELECTORS = ['uid', 'gid', 'cert_subject', 'cert_san', 'token'] as const;
const GRANT_KEYS = new Set<string>([...SELECTORS, 'role', 'tables']);

/** The built-in policy: the daemon's own uid is admin, nobody else is admitted. */
export function ownerOnlyPolicy(ownerUid: number): AuthPolicy {
  const source = `built-in (no --auth-policy): uid ${ownerUid} only`;
  return {
    source,
    tokens: new Map(),
    grants: [{ selector: { kind: 'uid', uid: ownerUid }, role: 'admin', covers: () => true, label: source }],
  };
}

/**
 * A certificate subject as a comparable string: `K=V` pairs, keys upper-case,
 * sorted, joined by ','. Accepts `CN=a,O=b`, OpenSSL's `CN = a, O = b` and
 * Node's newline-separated form, so the order a tool prints does not matter.
 */
export function normalizeSubject(text: string): string {
  return text
    .split(/[,\n]/)
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const eq = part.indexOf('=');
      return eq < 0 ? part : `${part.slice(0, eq).trim().toUpperCase()}=${part.slice(eq + 1).trim()}`;
    })
    .sort()
    .join(',');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

function parseSelector(grant: Record<string, unknown>, path: string, tokens: ReadonlyMap<string, string>, problems: string[]): Selector | undefined {
  const present = SELECTORS.filter((key) => grant[key] !== undefined && grant[key] !== null);
  if (present.length !== 1) {
    problems.push(`${path}: needs exactly one of ${SELECTORS.join(', ')}${present.length ? ` (has ${present.join(', ')})` : ''}`);
    return undefined;
  }
  const key = present[0]!;
  const value = grant[key];
  const bad = (what: string): undefined => {
    problems.push(`${path}.${key}: ${what}, not ${JSON.stringify(value)}`);
    return undefined;
  };
  switch (key) {
    case 'uid':
      return isId(value) ? { kind: 'uid', uid: value } : bad('must be a numeric uid');
    case 'gid':
      return isId(value) ? { kind: 'gid', gid: value } : bad('must be a numeric gid');
    case 'cert_subject':
      return typeof value === 'string' && value.includes('=')
        ? { kind: 'cert_subject', subject: normalizeSubject(value) }
        : bad('must be a subject such as "CN=ctrl-a,O=Acme"');
    case 'cert_san':
      return typeof value === 'string' && /^[A-Za-z ]+:.+/.test(value)
        ? { kind: 'cert_san', san: value.trim() }
        : bad('must be a SAN entry such as "DNS:ctrl-a.example" or "URI:spiffe://acme/ctrl"');
    case 'token':
      if (typeof value !== 'string' || !TOKEN_ID_PATTERN.test(value)) return bad('must be a token id (letters, digits, "_", "-")');
      if (!tokens.has(value)) {
        problems.push(`${path}.token: token id ${JSON.stringify(value)} has no hash under tokens`);
        return undefined;
      }
      return { kind: 'token', tokenId: value };
  }
}

function parseTables(value: unknown, path: string, problems: string[]): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    problems.push(`${path}: must be a non-empty list of table-name patterns (omit it for every table)`);
    return undefined;
  }
  value.forEach((p, i) => {
    if (typeof p !== 'string' || !isTablePattern(p)) {
      problems.push(`${path}[${i}]: ${JSON.stringify(p)} is not a table-name pattern (letters, digits, ".", "_", "-", "*", "?")`);
    }
  });
  return value.filter((p): p is string => typeof p === 'string');
}

/** Parses a policy document; throws PolicyError listing every problem. */
export function parsePolicy(text: string, source: string): AuthPolicy {
  const problems: string[] = [];
  let doc: unknown;
  try {
    doc = yaml().parse(text);
  } catch (err) {
    throw new PolicyError(source, [`not valid YAML: ${(err as Error).message}`]);
  }
  if (!isObject(doc)) throw new PolicyError(source, ['must be a mapping with "grants" (and "tokens" when tokens are used)']);
  for (const key of Object.keys(doc)) if (key !== 'tokens' && key !== 'grants') problems.push(`${key}: unknown key`);

  const tokens = new Map<string, string>();
  if (doc.tokens !== undefined && doc.tokens !== null) {
    if (!isObject(doc.tokens)) problems.push('tokens: must map token ids to "sha256:<hex>" hashes');
    else {
      for (const [id, hash] of Object.entries(doc.tokens)) {
        if (!TOKEN_ID_PATTERN.test(id)) problems.push(`tokens.${id}: a token id is 1-64 letters, digits, "_" or "-"`);
        else if (typeof hash !== 'string' || !isTokenHash(hash)) {
          problems.push(`tokens.${id}: must be "sha256:<64 hex digits>" as printed by portplane hash-token`);
        } else tokens.set(id, hash);
      }
    }
  }

  const grants: Grant[] = [];
  if (!Array.isArray(doc.grants)) problems.push('grants: must be a list');
  else {
    doc.grants.forEach((raw: unknown, i) => {
      const path = `grants[${i}]`;
      if (!isObject(raw)) {
        problems.push(`${path}: must be a mapping`);
        return;
      }
      for (const key of Object.keys(raw)) if (!GRANT_KEYS.has(key)) problems.push(`${path}.${key}: unknown key`);
      const selector = parseSelector(raw, path, tokens, problems);
      if (!isRole(raw.role)) problems.push(`${path}.role: must be reader, operator or admin, not ${JSON.stringify(raw.role)}`);
      const tables = parseTables(raw.tables, `${path}.tables`, problems);
      if (selector && isRole(raw.role)) {
        const patterns = tables?.map(compileTablePattern);
        grants.push({
          selector,
          role: raw.role,
          tables,
          covers: patterns ? (table) => patterns.some((p) => p.test(table)) : () => true,
          label: `${source} ${path}`,
        });
      }
    });
  }
  if (problems.length > 0) throw new PolicyError(source, problems);
  return { source, tokens, grants };
}

export async function loadPolicyFile(path: string): Promise<AuthPolicy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read auth policy ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parsePolicy(text, path);
}
