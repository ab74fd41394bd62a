/**
 * GetConfig and LastApplyResult paged (#12 item 5): the pages of one
 * generation put together equal the unpaged answer; a token from an older
 * generation is refused rather than mixed with a newer one.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { ServiceClient, callError } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePortBlock } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';
import type { GetConfigResponse__Output } from '../../src/generated/types/portplane/v1/GetConfigResponse.js';

type ConfigPage = GetConfigResponse__Output;
interface ResultPage {
  result: { generation: string; rules: { rule_id: string }[] };
  next_page_token: string;
}

describe('GetConfig and LastApplyResult paging', () => {
  let d: TestDaemon;
  let config: ServiceClient;
  let base: number;

  beforeAll(async () => {
    d = await startTestDaemon();
    config = new ServiceClient('ConfigService', d.target);
    base = await freePortBlock(8);
    const table = (name: string, first: number, count: number): object => ({
      name,
      rules: Array.from({ length: count }, (_, i) => singlePortRule(`r${i}`, first + i, 9)),
    });
    // 2, 3 and 1 rules.
    await config.call('ApplyConfig', { tables: [table('t1', base, 2), table('t2', base + 2, 3), table('t3', base + 5, 1)] });
  });
  afterAll(async () => {
    config.close();
    await d.stop();
  });

  const fieldOf = (err: grpc.ServiceError): string | undefined =>
    decodeStatusDetails(err.metadata).flatMap((x) => (x.type === 'BadRequest' ? x.fieldViolations.map((v) => v.field) : []))[0];

  it('GetConfig pages hold whole tables up to page_size rules and add up to the unpaged answer', async () => {
    const whole = await config.call<ConfigPage>('GetConfig', {});
    expect(whole.next_page_token).toBe('');
    const pages: ConfigPage[] = [];
    let token = '';
    do {
      const page = await config.call<ConfigPage>('GetConfig', { page_size: 3, page_token: token });
      pages.push(page);
      token = page.next_page_token;
    } while (token !== '' && pages.length < 10);
    expect(pages.map((p) => p.tables.map((t) => t.name))).toEqual([['t1'], ['t2'], ['t3']]);
    expect(pages.flatMap((p) => p.tables)).toEqual(whole.tables);
    for (const p of pages) expect(p).toMatchObject({ generation: whole.generation, config_digest: whole.config_digest });
    // A table larger than the page still comes whole.
    expect((await config.call<ConfigPage>('GetConfig', { page_size: 1, page_token: pages[0]!.next_page_token })).tables.map((t) => t.rules.length)).toEqual([3]);
  });

  it('LastApplyResult pages its rule statuses and adds up to the unpaged answer', async () => {
    const whole = await config.call<ResultPage>('LastApplyResult', {});
    expect(whole.result.rules).toHaveLength(6);
    const first = await config.call<ResultPage>('LastApplyResult', { page_size: 4 });
    expect(first.result.rules).toHaveLength(4);
    const second = await config.call<ResultPage>('LastApplyResult', { page_size: 4, page_token: first.next_page_token });
    expect(second.next_page_token).toBe('');
    expect([...first.result.rules, ...second.result.rules]).toEqual(whole.result.rules);
  });

  it('refuses a token of an older generation, a token of the other listing, and an oversized page', async () => {
    const first = await config.call<ConfigPage>('GetConfig', { page_size: 2 });
    expect(first.next_page_token).not.toBe('');
    const resultToken = (await config.call<ResultPage>('LastApplyResult', { page_size: 2 })).next_page_token;
    const wrongListing = await callError(config.call('GetConfig', { page_size: 2, page_token: resultToken }));
    expect(wrongListing.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fieldOf(wrongListing)).toBe('page_token');
    await config.call('ApplyConfig', { tables: [{ name: 't3', rules: [singlePortRule('r0', base + 7, 9)] }] });
    const stale = await callError(config.call('GetConfig', { page_size: 2, page_token: first.next_page_token }));
    expect(stale.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(stale.details).toContain('list again');
    const big = await callError(config.call('GetConfig', { page_size: 10_001 }));
    expect(fieldOf(big)).toBe('page_size');
  });
});
