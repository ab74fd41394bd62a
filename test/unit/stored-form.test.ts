import { describe, expect, it } from 'vitest';
import { defaultRuleOptions, type ForwardRule, type Table } from '../../src/config/model.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { restoreTables, storedTables } from '../../src/config/stored-form.js';

const rule = (over: Partial<ForwardRule> = {}): ForwardRule => ({
  name: 'r',
  protocol: 'tcp',
  listenAddress: '127.0.0.1',
  interface: '',
  ports: { first: 8080, last: 8081 },
  exclude: [],
  targetAddress: '127.0.0.1',
  targetPort: 9000,
  weak: false,
  ...defaultRuleOptions(),
  ...over,
});

describe('stored form of tables', () => {
  const tables: Table[] = normalizeConfig({
    tables: [
      {
        name: 'web',
        rules: [
          rule(),
          rule({
            name: 's',
            ports: { first: 9100, last: 9100 },
            allow: ['10.0.0.0/8'],
            proxyProtocol: 'v2',
            limits: { ...defaultRuleOptions().limits, maxSessions: 7 },
            drain: { mode: 'drain', timeoutMs: 500 },
          }),
        ],
      },
    ],
  }).tables;

  it('leaves out exactly the options equal to their defaults', () => {
    const [plain, custom] = storedTables(tables)[0]!.rules as Partial<ForwardRule>[];
    expect(Object.keys(plain!).sort()).toEqual(['exclude', 'interface', 'listenAddress', 'name', 'ports', 'protocol', 'targetAddress', 'targetPort', 'weak'].sort());
    expect(custom).toMatchObject({ allow: ['10.0.0.0/8'], proxyProtocol: 'v2', drain: { mode: 'drain', timeoutMs: 500 } });
    expect(custom!.limits?.maxSessions).toBe(7);
    expect(custom).not.toHaveProperty('deny');
    expect(JSON.stringify(plain).length).toBeLessThan(JSON.stringify(tables[0]!.rules[0]).length / 2);
  });

  it('restores the complete normalised tables, through JSON as on disk', () => {
    const onDisk = JSON.parse(JSON.stringify(storedTables(tables))) as Table[];
    expect(restoreTables(onDisk)).toEqual(tables);
  });
});
