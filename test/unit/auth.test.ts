/**
 * Authorization pieces on their own: the policy file, tokens, identification,
 * role and table-scope decisions, the method table's safe default, and the
 * per-caller quotas.
 */
import { describe, expect, it } from 'vitest';
import { authorizeMethod, authorizeTables, visibleTables } from '../../src/auth/authorize.js';
import { CallerQuotas } from '../../src/auth/caller-quotas.js';
import { PermissionDeniedError, QuotaExceededError, UnauthenticatedError } from '../../src/auth/errors.js';
import { METHOD_ACCESS, methodAccess, UNKNOWN_METHOD } from '../../src/auth/method-access.js';
import { normalizeSubject, ownerOnlyPolicy, parsePolicy, PolicyError } from '../../src/auth/policy.js';
import { identify } from '../../src/auth/principal.js';
import { bearerToken, generateToken, hashToken, parseToken, tokenMatches } from '../../src/auth/tokens.js';

const admin = generateToken('admin');
const tenant = generateToken('tenant');
const policy = parsePolicy(
  `
tokens:
  admin: ${hashToken(admin)}
  tenant: ${hashToken(tenant)}
grants:
  - { uid: 1000, role: operator }
  - { gid: 2000, role: reader }
  - { cert_subject: "O=Acme,CN=ctrl", role: admin }
  - { cert_san: "DNS:ro.example", role: reader, tables: ["ro-*"] }
  - { token: admin, role: admin }
  - { token: tenant, role: admin, tables: [tenant, "tenant-?"] }
  - { token: tenant, role: reader, tables: [shared] }
`,
  'test.yaml',
);

const APPLY = '/portplane.v1.ConfigService/ApplyConfig';

describe('policy file', () => {
  it('reports every problem with its path', () => {
    const text = `
tokens:
  ok: sha256:${'0'.repeat(64)}
  bad: md5:abc
extra: 1
grants:
  - { uid: -1, role: admin }
  - { uid: 1, gid: 2, role: admin }
  - { token: missing, role: reader }
  - { cert_san: "no-type", role: root, tables: [] }
  - { uid: 3, role: admin, color: red, tables: ["a b"] }
`;
    let problems: string[] = [];
    try {
      parsePolicy(text, 'p.yaml');
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyError);
      problems = (err as PolicyError).problems;
    }
    expect(problems).toEqual([
      'extra: unknown key',
      'tokens.bad: must be "sha256:<64 hex digits>" as printed by portplane hash-token',
      'grants[0].uid: must be a numeric uid, not -1',
      'grants[1]: needs exactly one of uid, gid, cert_subject, cert_san, token (has uid, gid)',
      'grants[2].token: token id "missing" has no hash under tokens',
      'grants[3].cert_san: must be a SAN entry such as "DNS:ctrl-a.example" or "URI:spiffe://acme/ctrl", not "no-type"',
      'grants[3].role: must be reader, operator or admin, not "root"',
      'grants[3].tables: must be a non-empty list of table-name patterns (omit it for every table)',
      'grants[4].color: unknown key',
      'grants[4].tables[0]: "a b" is not a table-name pattern (letters, digits, ".", "_", "-", "*", "?")',
    ]);
  });

  it('compares certificate subjects whatever order and spacing a tool prints', () => {
    expect(normalizeSubject('CN = ctrl, O = Acme')).toBe(normalizeSubject('O=Acme\nCN=ctrl'));
    expect(normalizeSubject('cn=ctrl')).toBe('CN=ctrl');
  });
});

describe('tokens', () => {
  it('are <id>.<secret> with 256 random bits, stored as sha256 and checked against it', () => {
    const t = generateToken('ci-bot');
    expect(parseToken(t)?.id).toBe('ci-bot');
    expect(t.split('.')[1]).toHaveLength(43);
    expect(generateToken('ci-bot')).not.toBe(t);
    expect(hashToken(t)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(tokenMatches(t, hashToken(t))).toBe(true);
    expect(tokenMatches(`${t}x`, hashToken(t))).toBe(false);
    expect(parseToken('no-dot')).toBeUndefined();
    expect(parseToken('bad id.secret')).toBeUndefined();
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('bearer  abc.def ')).toBe('abc.def');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(() => generateToken('a b')).toThrow(/token id/);
  });
});

describe('identification', () => {
  const unix = { transport: 'unix' as const, uid: 1000, gid: 100, groups: [2000], pid: 42, credentials: 'peercred' as const };

  it('names the caller by the strongest credential and applies only its grants', () => {
    const byUid = identify({ peer: unix }, policy);
    expect(byUid.caller).toMatchObject({ kind: 'unix', id: 'uid:1000', pid: 42 });
    expect(byUid.grants.map((g) => g.role)).toEqual(['operator', 'reader']); // uid, then a supplementary group

    const byToken = identify({ peer: unix, bearer: tenant }, policy);
    expect(byToken.caller).toMatchObject({ kind: 'token', id: 'token:tenant', tokenId: 'tenant', uid: 1000 });
    expect(byToken.grants.map((g) => g.tables)).toEqual([['tenant', 'tenant-?'], ['shared']]);

    const byCert = identify({ peer: { transport: 'tcp' }, certificate: { subject: 'O=Acme\nCN=ctrl', san: [] } }, policy);
    expect(byCert.caller).toMatchObject({ kind: 'tls', id: 'cert:O=Acme,CN=ctrl' });
    expect(byCert.grants.map((g) => g.role)).toEqual(['admin']);
    const bySan = identify({ peer: { transport: 'tcp' }, certificate: { subject: 'CN=x', san: ['DNS:ro.example'] } }, policy);
    expect(bySan.grants.map((g) => g.role)).toEqual(['reader']);
  });

  it('refuses a wrong token and an unidentifiable peer', () => {
    expect(() => identify({ peer: unix, bearer: `tenant.${'A'.repeat(43)}` }, policy)).toThrow(UnauthenticatedError);
    expect(() => identify({ peer: unix, bearer: generateToken('ghost') }, policy)).toThrow(UnauthenticatedError);
    expect(() => identify({ peer: { transport: 'tcp', remote: '10.0.0.1:5' } }, policy)).toThrow(/cannot identify the caller \(tcp 10\.0\.0\.1:5\)/);
  });

  it('without a policy file admits the owner uid only, as admin', () => {
    const owner = ownerOnlyPolicy(1000);
    expect(identify({ peer: unix }, owner).grants.map((g) => g.role)).toEqual(['admin']);
    expect(identify({ peer: { ...unix, uid: 1001 } }, owner).grants).toEqual([]);
  });
});

describe('authorization', () => {
  const who = (bearer: string) => identify({ peer: { transport: 'unix' }, bearer }, policy);
  const denied = (fn: () => void): PermissionDeniedError => {
    try {
      fn();
    } catch (err) {
      if (err instanceof PermissionDeniedError) return err;
      throw err;
    }
    throw new Error('expected PERMISSION_DENIED');
  };

  it('checks the role a method needs', () => {
    const operator = identify({ peer: { transport: 'unix', uid: 1000 } }, policy);
    expect(() => authorizeMethod(operator, '/portplane.v1.ConfigService/GetConfig', methodAccess('/portplane.v1.ConfigService/GetConfig'))).not.toThrow();
    expect(denied(() => authorizeMethod(operator, APPLY, methodAccess(APPLY))).reason).toBe('ROLE_REQUIRED');
  });

  it('confines a scoped caller to its tables and names the first other one', () => {
    const t = who(tenant);
    authorizeMethod(t, APPLY, methodAccess(APPLY));
    expect(() => authorizeTables(t, APPLY, 'admin', { names: ['tenant', 'tenant-1'], all: false })).not.toThrow();
    const other = denied(() => authorizeTables(t, APPLY, 'admin', { names: ['tenant', 'shared', 'web'], all: false }));
    expect(other.metadata).toMatchObject({ table: 'shared', tables: 'shared,web' });
    expect(other.message).toContain('"shared"');
    expect(denied(() => authorizeTables(t, APPLY, 'admin', { names: ['tenant'], all: true })).metadata.table).toBe('*');
    // An unscoped admin reaches everything.
    expect(() => authorizeTables(who(admin), APPLY, 'admin', { names: ['x'], all: true })).not.toThrow();
    // Reading covers the reader grant on "shared" too.
    const visible = visibleTables(t, 'reader')!;
    expect(['tenant', 'tenant-22', 'shared', 'web'].filter(visible)).toEqual(['tenant', 'shared']);
    expect(visibleTables(who(admin), 'reader')).toBeUndefined();
  });

  it('makes a method missing from the table admin-only, unscoped-only and audited', () => {
    const unknown = '/portplane.v1.SomeService/SomethingNew';
    expect(methodAccess(unknown)).toBe(UNKNOWN_METHOD);
    expect(UNKNOWN_METHOD).toMatchObject({ role: 'admin', mutating: true });
    expect(() => authorizeMethod(who(admin), unknown, methodAccess(unknown))).not.toThrow();
    expect(denied(() => authorizeMethod(who(tenant), unknown, methodAccess(unknown))).reason).toBe('UNSCOPED_ROLE_REQUIRED');
    expect(methodAccess('constructor')).toBe(UNKNOWN_METHOD);
    // Every listed mutating method says which tables it touches, or confines itself in its handler, so scoped callers can be confined.
    for (const [path, access] of Object.entries(METHOD_ACCESS)) {
      if (access.mutating) expect(['request', 'handler'], path).toContain(access.scope?.kind);
    }
  });
});

describe('per-caller quotas', () => {
  it('caps open calls per caller and gives slots back once', () => {
    const q = new CallerQuotas({ maxMessageBytes: 1, maxStreamsPerCaller: 2, applyRatePerSecond: 1, applyBurst: 1 });
    const a1 = q.openCall('a');
    q.openCall('a');
    expect(() => q.openCall('a')).toThrow(QuotaExceededError);
    q.openCall('b');
    a1();
    a1();
    q.openCall('a');
    expect(() => q.openCall('a')).toThrow(/max_streams_per_caller is 2/);
  });

  it('refills the apply bucket at the configured rate, per caller', () => {
    let now = 0;
    const q = new CallerQuotas({ maxMessageBytes: 1, maxStreamsPerCaller: 1, applyRatePerSecond: 2, applyBurst: 3 }, () => now);
    for (let i = 0; i < 3; i++) q.takeApply('a');
    let err: unknown;
    try {
      q.takeApply('a');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect((err as QuotaExceededError).limit).toBe('apply_rate_per_second');
    q.takeApply('b');
    now += 500; // one token at 2/s
    q.takeApply('a');
    expect(() => q.takeApply('a')).toThrow(QuotaExceededError);
    now += 3_600_000; // never more than the burst
    for (let i = 0; i < 3; i++) q.takeApply('a');
    expect(() => q.takeApply('a')).toThrow(QuotaExceededError);
  });
});
