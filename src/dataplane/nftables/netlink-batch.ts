/**
 * The incremental diff of ruleset.ts as nf_tables netlink messages, sent by
 * the addon as one NFNL batch (native/nftables `batch`), without libnftables.
 * libnftables refreshes its cache of the table (every chain and set: 1,000
 * chains at 1,000 rules) before each batch, which was ~6 ms of an 8 ms
 * one-rule apply; these messages name every object, so the kernel needs no
 * cache and the cost follows the change.
 *
 * The encoding is what nft 1.0.6 sends for the same text (checked with
 * `nft --debug=netlink`; test/integration/nftables-netlink.test.ts proves the
 * tables equal by listing both): registers, dependencies (`meta nfproto`,
 * `meta l4proto` before a TCP reset) and set key layouts (each part of a
 * concatenation padded to 4 bytes) included. Whole rewrites stay with
 * libnftables (fullBatch), which also creates what this module only refers
 * to (the shared maps and sets).
 */
import { endianness } from 'node:os';
import { parseIp } from '../../config/ip.js';
import { COUNTER_SETS, diffRules, newClasses, type ChainStatement, type FilterSet, type Refusal, type RuleLimit, type RuleObjects, type SetElement, type WrittenState } from './ruleset.js';

// linux/netfilter/nf_tables.h, nfnetlink.h, netlink.h
const NFNL_SUBSYS_NFTABLES = 10;
const MSG = { NEWCHAIN: 3, DELCHAIN: 5, NEWRULE: 6, DELRULE: 8, NEWSET: 9, DELSET: 11, NEWSETELEM: 12, DELSETELEM: 14, NEWOBJ: 18, DELOBJ: 20 } as const;
const NFT_OBJECT_LIMIT = 4;
/** NFTA_SET_ELEM_OBJREF: an objref map element's object name. */
const NFTA_SET_ELEM_OBJREF = 9;
const NLM_F_CREATE = 0x400;
const NLM_F_APPEND = 0x800;
const NLA_F_NESTED = 0x8000;
const NFPROTO_INET = 1;
const NFPROTO_IPV4 = 2;
const NFPROTO_IPV6 = 10;
const NFT_GOTO = -4;
const NFT_SET_ANONYMOUS = 0x1;
const NFT_SET_CONSTANT = 0x2;
const NFT_SET_INTERVAL = 0x4;
const NFT_SET_MAP = 0x8;
const NF_NAT_RANGE_PROTO_SPECIFIED = 0x2;
/** The name template of an anonymous map (the kernel picks the number). */
const ANONYMOUS_MAP = '__map%d';
const NFT_SET_ELEM_INTERVAL_END = 0x1;
/** nft's datatype ids (NFTA_SET_KEY_TYPE) and key byte order (set userdata), for the filter sets. */
const TYPE_IPV4_ADDR = 7;
const TYPE_IPV6_ADDR = 8;
const TYPE_INET_SERVICE = 13;
const BYTEORDER_BIG_ENDIAN = 2;
const UDATA_SET_KEYBYTEORDER = 0;
const UDATA_SET_DATABYTEORDER = 1;
const UDATA_SET_MERGE_ELEMENTS = 2;
const UDATA_SET_DATA_INTERVAL = 6;
const UDATA_RULE_COMMENT = 0;
/** Registers: 16-byte NFT_REG_1.. or, for a concatenation's parts, 4-byte NFT_REG32_00.. (as nft picks them). */
const reg = (offset: number): number => (offset % 16 === 0 ? 1 + offset / 16 : 8 + offset / 4);
/** An attribute's length is 16 bits: element lists are split below it. */
const MAX_ELEMENTS_BYTES = 60_000;

const HOST_LE = endianness() === 'LE';

/** A netlink attribute tree: leaves are bytes, nested lists are nested attributes. */
type Attr = [type: number, value: Buffer | string | Attr[]];

function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
function u64be(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
/** A value as nft keeps host-order integers (marks, the fib result) in a register. */
function u32host(n: number): Buffer {
  const b = Buffer.alloc(4);
  if (HOST_LE) b.writeUInt32LE(n >>> 0);
  else b.writeUInt32BE(n >>> 0);
  return b;
}

/** `attrs` encoded into `out` (zeroed) from `offset`; returns the offset after them. One buffer per message: a copy per nesting level cost ~4 us per element. */
function writeAttrs(out: Buffer, offset: number, attrs: Attr[]): number {
  for (const [type, value] of attrs) {
    const start = offset;
    const nested = Array.isArray(value);
    offset += 4;
    if (nested) {
      offset = writeAttrs(out, offset, value);
    } else if (typeof value === 'string') {
      offset += out.write(value, offset) + 1; // NUL-terminated
    } else {
      offset += value.copy(out, offset);
    }
    const len = offset - start;
    if (len > 0xffff) throw new Error(`netlink attribute ${type} of ${len} bytes exceeds 65535`);
    out.writeUInt16LE(len, start);
    out.writeUInt16LE(type | (nested ? NLA_F_NESTED : 0), start + 2);
    offset = (offset + 3) & ~3;
  }
  return offset;
}

/** The bytes one attribute takes, padded, without encoding it. */
function attrSize([, value]: Attr): number {
  const payload = Array.isArray(value) ? value.reduce((n, a) => n + attrSize(a), 0) : typeof value === 'string' ? Buffer.byteLength(value) + 1 : value.length;
  return (4 + payload + 3) & ~3;
}

/** One message: nlmsghdr (seq and the request/ack flags are the addon's) + nfgenmsg + attributes. */
function message(type: number, flags: number, attrs: Attr[]): Buffer {
  const out = Buffer.alloc(20 + attrs.reduce((n, a) => n + attrSize(a), 0));
  if (writeAttrs(out, 20, attrs) !== out.length) throw new Error('netlink batch: message size mismatch');
  out.writeUInt32LE(out.length);
  out.writeUInt16LE((NFNL_SUBSYS_NFTABLES << 8) | type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt8(NFPROTO_INET, 16);
  return out;
}

const data = (value: Buffer): Attr[] => [[1, value]]; // NFTA_DATA_VALUE
const verdict = (code: number, chain?: string): Attr[] => [[2, [[1, u32be(code)], ...(chain ? [[2, chain] as Attr] : [])]]]; // NFTA_DATA_VERDICT

// --- expressions (NFTA_EXPR_NAME, NFTA_EXPR_DATA) ---
type Expr = Attr;
const expr = (name: string, attrs: Attr[]): Expr => [1, [[1, name], [2, attrs]]]; // NFTA_LIST_ELEM
const meta = (key: 'nfproto' | 'l4proto', dreg: number): Expr => expr('meta', [[1, u32be(dreg)], [2, u32be(key === 'nfproto' ? 15 : 16)]]);
const cmp = (op: 'eq' | 'neq', value: Buffer, sreg = 1): Expr => expr('cmp', [[1, u32be(sreg)], [2, u32be(op === 'eq' ? 0 : 1)], [3, data(value)]]);
const payload = (base: 'network' | 'transport', offset: number, len: number, dreg: number): Expr =>
  expr('payload', [[1, u32be(dreg)], [2, u32be(base === 'network' ? 1 : 2)], [3, u32be(offset)], [4, u32be(len)]]);
const ctMarkLoad = (dreg = 1): Expr => expr('ct', [[1, u32be(dreg)], [2, u32be(3)]]); // NFT_CT_MARK
const lookup = (set: string, sreg: number, options: { dreg?: number; invert?: boolean; setId?: number } = {}): Expr =>
  expr('lookup', [
    [1, set],
    [2, u32be(sreg)],
    ...(options.dreg !== undefined ? [[3, u32be(options.dreg)] as Attr] : []),
    ...(options.setId !== undefined ? [[4, u32be(options.setId)] as Attr] : []),
    ...(options.invert ? [[5, u32be(1)] as Attr] : []),
  ]);
/** `limit rate over <rate>/second burst <burst> packets`: NFT_LIMIT_PKTS, NFT_LIMIT_F_INV. */
const limitOver = (rate: number, burst: number): Attr[] => [[1, u64be(rate)], [2, u64be(1)], [3, u32be(burst)], [4, u32be(0)], [5, u32be(1)]];

const nfproto = (family: 4 | 6): Expr[] => [meta('nfproto', 1), cmp('eq', Buffer.from([family === 4 ? NFPROTO_IPV4 : NFPROTO_IPV6]))];
const l4proto = (protocol: 'tcp' | 'udp'): Expr[] => [meta('l4proto', 1), cmp('eq', Buffer.from([protocol === 'tcp' ? 6 : 17]))];
const saddr = (family: 4 | 6, dreg: number): Expr => payload('network', family === 4 ? 12 : 8, family === 4 ? 4 : 16, dreg);
/** `ct mark @set` (the counter) then the refusal; a TCP reset needs a TCP packet, which nft checks first. */
const countAndRefuse = (counter: string, refuse: Refusal): Expr[] => [
  ctMarkLoad(),
  lookup(counter, 1),
  refuse === 'tcp-reset' ? expr('reject', [[1, u32be(1)]]) : expr('reject', [[1, u32be(2)], [2, Buffer.from([1])]]),
];
const refusalDependency = (refuse: Refusal): Expr[] => (refuse === 'tcp-reset' ? l4proto('tcp') : []);

/** The expressions and userdata of one statement, as nft compiles it in an inet table. */
/** `out` receives what the statement needs created before it (a DNAT's own port map). */
function statementExprs(s: ChainStatement, table: string, out: Buffer[]): { exprs: Expr[]; userdata?: Buffer } {
  switch (s.kind) {
    case 'syn-only':
      return {
        exprs: [
          ...l4proto('tcp'),
          payload('transport', 13, 1, 1),
          expr('bitwise', [[1, u32be(1)], [2, u32be(1)], [3, u32be(1)], [4, data(Buffer.from([0x17]))], [5, data(Buffer.from([0]))]]),
          cmp('neq', Buffer.from([0x02])),
          expr('reject', [[1, u32be(1)]]),
        ],
      };
    case 'filter':
      return { exprs: [...refusalDependency(s.refuse), ...nfproto(s.family), saddr(s.family, 1), lookup(s.set, 1, { invert: s.invert }), ...countAndRefuse(s.counter, s.refuse)] };
    case 'cap':
      return { exprs: [...refusalDependency(s.refuse), expr('connlimit', [[1, u32be(s.count)], [2, u32be(1)]]), ...countAndRefuse(s.counter, s.refuse)] };
    case 'rate':
      return { exprs: [...refusalDependency(s.refuse), expr('limit', limitOver(s.rate, s.burst)), ...countAndRefuse(s.counter, s.refuse)] };
    case 'source-rate':
      return {
        exprs: [
          ...refusalDependency(s.refuse),
          ...nfproto(s.family),
          ctMarkLoad(1),
          saddr(s.family, reg(4)),
          // dynset: set, op update, key register, the limit as its expression
          expr('dynset', [[1, s.set], [3, u32be(1)], [4, u32be(1)], [7, [[1, 'limit'], [2, limitOver(s.rate, s.burst)]]]]),
          ...countAndRefuse(s.counter, s.refuse),
        ],
      };
    case 'dnat': {
      const address = parseIp(s.target.address);
      if (!address || address.family !== s.family) throw new Error(`netlink batch: ${JSON.stringify(s.target.address)} is not an IPv${s.family} address`);
      const comment = Buffer.from(`${s.comment}\0`);
      if (comment.length > 128) throw new Error(`rule comment ${JSON.stringify(s.comment)} is longer than 127 bytes`);
      // nat: type dnat, family, address register[, port register, NF_NAT_RANGE_PROTO_SPECIFIED]
      const nat: Attr[] = [[1, u32be(1)], [2, u32be(s.family === 4 ? NFPROTO_IPV4 : NFPROTO_IPV6)], [3, u32be(1)]];
      const port: Expr[] = [];
      if (s.target.port !== undefined) {
        port.push(expr('immediate', [[1, u32be(2)], [2, data(port16(s.target.port))]]));
      } else if (s.target.ports) {
        const setId = anonymousPortMap(out, table, s.target.ports);
        port.push(payload('transport', 2, 2, 2), lookup(ANONYMOUS_MAP, 2, { dreg: 2, setId }));
      }
      if (port.length > 0) nat.push([5, u32be(2)], [7, u32be(NF_NAT_RANGE_PROTO_SPECIFIED)]);
      return {
        exprs: [...l4proto(s.protocol), ctMarkLoad(), lookup(s.counter, 1), expr('immediate', [[1, u32be(1)], [2, data(Buffer.from(address.bytes))]]), ...port, expr('nat', nat)],
        userdata: Buffer.concat([Buffer.from([UDATA_RULE_COMMENT, comment.length]), comment]),
      };
    }
  }
}

function port16(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(port);
  return b;
}

/**
 * A rule's own map of listening port to target port, as nft creates
 * `th dport map { ... }`: an anonymous constant map the kernel names, its
 * elements sent before the rule that binds it (a bound one takes none), found
 * by the batch's set id. It goes with its rule.
 */
function anonymousPortMap(out: Buffer[], table: string, ports: [number, number][]): number {
  setIds = (setIds + 1) >>> 0;
  const userdata = attrBytesUdata([
    [UDATA_SET_KEYBYTEORDER, u32host(BYTEORDER_BIG_ENDIAN)],
    [UDATA_SET_DATABYTEORDER, u32host(BYTEORDER_BIG_ENDIAN)],
    [UDATA_SET_DATA_INTERVAL, u32host(0)],
  ]);
  out.push(
    message(MSG.NEWSET, NLM_F_CREATE, [
      [1, table],
      [2, ANONYMOUS_MAP],
      [3, u32be(NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP)],
      [4, u32be(TYPE_INET_SERVICE)],
      [5, u32be(2)],
      [6, u32be(TYPE_INET_SERVICE)],
      [7, u32be(2)],
      [10, u32be(setIds)],
      [9, [[1, u32be(ports.length)]]],
      [13, userdata],
    ]),
  );
  elementListMessages(
    out,
    table,
    ANONYMOUS_MAP,
    'add',
    ports.map(([listen, target]) => [1, [[1, data(port16(listen))], [2, data(port16(target))]]] as Attr),
    setIds,
  );
  return setIds;
}

// --- set keys and values ---

type Part = 'ipv4' | 'ipv6' | 'proto' | 'port' | 'mark';
/** Key and value layouts of the sets a delta writes elements to (ruleset.ts baseCommands). */
const LAYOUT: Record<string, { key: Part[]; value?: Part[] | 'verdict' | 'objref' }> = {
  l4: { key: ['ipv4', 'proto', 'port'], value: ['mark'] },
  l6: { key: ['ipv6', 'proto', 'port'], value: ['mark'] },
  a4: { key: ['proto', 'port'], value: ['mark'] },
  a6: { key: ['proto', 'port'], value: ['mark'] },
  rules: { key: ['mark'], value: 'verdict' },
  lim: { key: ['mark'], value: 'objref' },
  n4: { key: ['mark', 'port'], value: ['ipv4', 'port'] },
  n6: { key: ['mark', 'port'], value: ['ipv6', 'port'] },
  hairpin4: { key: ['ipv4', 'ipv4'] },
  hairpin6: { key: ['ipv6', 'ipv6'] },
  ...Object.fromEntries(COUNTER_SETS.map(([, set]) => [set, { key: ['mark'] as Part[] }])),
};

/** A class's mark set (RuleClass): `m_<cap>`, `s_<rate>_<burst>`. */
const CLASS_SET = /^(m_\d+|s_\d+_\d+)$/;

function part(kind: Part, text: string): Buffer {
  const fail = (): never => {
    throw new Error(`netlink batch: ${JSON.stringify(text)} is not a ${kind}`);
  };
  switch (kind) {
    case 'ipv4':
    case 'ipv6': {
      const ip = parseIp(text);
      if (!ip || ip.family !== (kind === 'ipv4' ? 4 : 6)) return fail();
      return Buffer.from(ip.bytes);
    }
    case 'proto': {
      const b = Buffer.alloc(4);
      b[0] = text === 'tcp' ? 6 : text === 'udp' ? 17 : fail();
      return b;
    }
    case 'port': {
      const n = /^\d{1,5}$/.test(text) ? Number(text) : -1;
      if (n < 0 || n > 65535) fail();
      const b = Buffer.alloc(4);
      b.writeUInt16BE(n);
      return b;
    }
    case 'mark': {
      const n = /^\d{1,10}$/.test(text) ? Number(text) : -1;
      if (n < 0 || n > 0xffffffff) fail();
      return u32host(n);
    }
  }
}

function concat(kinds: Part[], text: string): Buffer {
  const parts = text.split(' . ');
  if (parts.length !== kinds.length) throw new Error(`netlink batch: ${JSON.stringify(text)} does not have ${kinds.length} parts`);
  return Buffer.concat(parts.map((p, i) => part(kinds[i]!, p)));
}

/** One element of a shared set as its netlink attributes (a delete names the key only). */
function elementAttrs(set: string, element: string, verb: 'add' | 'delete'): Attr {
  const layout = LAYOUT[set] ?? (CLASS_SET.test(set) ? { key: ['mark'] as Part[] } : undefined);
  if (!layout) throw new Error(`netlink batch: no layout for set ${set}`);
  const [keyText, valueText] = element.split(' : ');
  const attrs: Attr[] = [[1, data(concat(layout.key, keyText!))]];
  if (verb === 'add' && layout.value) {
    if (valueText === undefined) throw new Error(`netlink batch: element ${JSON.stringify(element)} of map ${set} has no value`);
    if (layout.value === 'verdict') {
      const chain = /^goto (r\d+)$/.exec(valueText)?.[1];
      if (!chain) throw new Error(`netlink batch: ${JSON.stringify(valueText)} is not a goto`);
      attrs.push([2, verdict(NFT_GOTO, chain)]);
    } else if (layout.value === 'objref') {
      const name = /^"(\w+)"$/.exec(valueText)?.[1];
      if (!name) throw new Error(`netlink batch: ${JSON.stringify(valueText)} is not an object name`);
      attrs.push([NFTA_SET_ELEM_OBJREF, name]);
    } else {
      attrs.push([2, data(concat(layout.value, valueText))]);
    }
  }
  return [1, attrs];
}

/** Element messages for `elements` (set, key[: value]), grouped by set and split under the attribute size limit. */
function elementMessages(out: Buffer[], table: string, verb: 'add' | 'delete', elements: SetElement[]): void {
  const bySet = new Map<string, Attr[]>();
  for (const e of elements) {
    const list = bySet.get(e.set) ?? [];
    list.push(elementAttrs(e.set, e.element, verb));
    bySet.set(e.set, list);
  }
  for (const [set, list] of bySet) elementListMessages(out, table, set, verb, list);
}

/** `setId`: the set is one this batch creates, found by its id (an anonymous set's name is the kernel's to choose). */
function elementListMessages(out: Buffer[], table: string, set: string, verb: 'add' | 'delete', list: Attr[], setId?: number): void {
  let chunk: Attr[] = [];
  let bytes = 0;
  const flush = (): void => {
    if (chunk.length === 0) return;
    out.push(message(verb === 'add' ? MSG.NEWSETELEM : MSG.DELSETELEM, verb === 'add' ? NLM_F_CREATE : 0, [[1, table], [2, set], ...(setId !== undefined ? [[4, u32be(setId)] as Attr] : []), [3, chunk]]));
    chunk = [];
    bytes = 0;
  };
  for (const e of list) {
    const size = attrSize(e);
    if (bytes + size > MAX_ELEMENTS_BYTES) flush();
    chunk.push(e);
    bytes += size;
  }
  flush();
}

/**
 * A filter set's CIDRs merged into intervals (auto-merge: overlapping and
 * adjacent ranges become one), as nft sends them: the start of each range,
 * and its end + 1 flagged INTERVAL_END (none when it reaches the last
 * address), after a leading end element at address 0 unless the first
 * range starts there.
 */
function intervalElements(set: FilterSet): Attr[] {
  const bits = set.family === 4 ? 32 : 128;
  const max = (1n << BigInt(bits)) - 1n;
  const ranges: [bigint, bigint][] = [];
  for (const cidr of set.cidrs) {
    const [addr, len] = cidr.split('/');
    const ip = parseIp(addr!);
    const prefix = len === undefined ? bits : Number(len);
    if (!ip || ip.family !== set.family || !Number.isInteger(prefix) || prefix < 0 || prefix > bits) throw new Error(`netlink batch: ${JSON.stringify(cidr)} is not an IPv${set.family} prefix`);
    const value = ip.bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
    const hostMask = (1n << BigInt(bits - prefix)) - 1n;
    ranges.push([value & ~hostMask & max, (value & ~hostMask & max) | hostMask]);
  }
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: [bigint, bigint][] = [];
  for (const r of ranges) {
    const last = merged.at(-1);
    if (last && r[0] <= last[1] + 1n) last[1] = r[1] > last[1] ? r[1] : last[1];
    else merged.push([...r]);
  }
  const bytes = (v: bigint): Buffer => {
    const b = Buffer.alloc(bits / 8);
    for (let i = b.length - 1; i >= 0; i--, v >>= 8n) b[i] = Number(v & 0xffn);
    return b;
  };
  const out: Attr[] = [];
  const end = (v: bigint): Attr => [1, [[1, data(bytes(v))], [3, u32be(NFT_SET_ELEM_INTERVAL_END)]]];
  if (merged.length > 0 && merged[0]![0] !== 0n) out.push(end(0n));
  for (const [first, last] of merged) {
    out.push([1, [[1, data(bytes(first))]]]);
    if (last !== max) out.push(end(last + 1n));
  }
  return out;
}

let setIds = 0;

/** A shared-chain rule's named limit (NFTA_OBJ_TABLE, NAME, TYPE, DATA), as `add limit` sends it. */
function limitObject(table: string, limit: RuleLimit, verb: 'add' | 'delete'): Buffer {
  const head: Attr[] = [[1, table], [2, limit.name], [3, u32be(NFT_OBJECT_LIMIT)]];
  return verb === 'add' ? message(MSG.NEWOBJ, NLM_F_CREATE, [...head, [4, limitOver(limit.rate, limit.burst)]]) : message(MSG.DELOBJ, 0, head);
}

function createMessages(out: Buffer[], table: string, r: RuleObjects): void {
  for (const [, set] of COUNTER_SETS) out.push(message(MSG.NEWSETELEM, NLM_F_CREATE, [[1, table], [2, set], [3, [elementAttrs(set, String(r.counterId), 'add')]]]));
  if (r.limit) out.push(limitObject(table, r.limit, 'add'));
  if (!r.chain) return;
  out.push(message(MSG.NEWCHAIN, NLM_F_CREATE, [[1, table], [3, r.chain.name]]));
  for (const set of r.chain.sets) {
    const userdata = attrBytesUdata([
      [UDATA_SET_KEYBYTEORDER, u32host(BYTEORDER_BIG_ENDIAN)],
      [UDATA_SET_MERGE_ELEMENTS, u32host(1)],
    ]);
    setIds = (setIds + 1) >>> 0;
    out.push(
      message(MSG.NEWSET, NLM_F_CREATE, [
        [1, table],
        [2, set.name],
        [3, u32be(NFT_SET_INTERVAL)],
        [4, u32be(set.family === 4 ? TYPE_IPV4_ADDR : TYPE_IPV6_ADDR)],
        [5, u32be(set.family === 4 ? 4 : 16)],
        [10, u32be(setIds)],
        [13, userdata],
      ]),
    );
    const elements = intervalElements(set);
    if (elements.length > 0) elementListMessages(out, table, set.name, 'add', elements);
  }
  for (const s of r.chain.statements) {
    const { exprs, userdata } = statementExprs(s, table, out);
    out.push(message(MSG.NEWRULE, NLM_F_CREATE | NLM_F_APPEND, [[1, table], [2, r.chain.name], [4, exprs], ...(userdata ? [[7, userdata] as Attr] : [])]));
  }
}

/** nftnl userdata: type (1 byte), length (1 byte), value, unpadded. */
function attrBytesUdata(items: [number, Buffer][]): Buffer {
  return Buffer.concat(items.map(([type, value]) => Buffer.concat([Buffer.from([type, value.length]), value])));
}

function removeMessages(out: Buffer[], table: string, r: RuleObjects): void {
  // A chain must be empty before it goes (a DELRULE without a handle flushes it); its objects are free once it is.
  if (r.chain) {
    out.push(message(MSG.DELRULE, 0, [[1, table], [2, r.chain.name]]));
    out.push(message(MSG.DELCHAIN, 0, [[1, table], [3, r.chain.name]]));
  }
  for (const [, set] of COUNTER_SETS) out.push(message(MSG.DELSETELEM, 0, [[1, table], [2, set], [3, [elementAttrs(set, String(r.counterId), 'delete')]]]));
  for (const set of r.chain?.sets ?? []) out.push(message(MSG.DELSET, 0, [[1, table], [2, set.name]]));
  // Its `lim` element went with the rule's elements, before.
  if (r.limit) out.push(limitObject(table, r.limit, 'delete'));
}

/**
 * The messages that turn `from` into `to` (diffRules, in diffBatch's
 * order), each a complete nlmsghdr whose sequence number and request/ack
 * flags the addon sets. Empty when equal.
 */
export function deltaMessages(tableName: string, from: WrittenState, to: WrittenState): Buffer[] {
  // A new class (its set and rules) is rare: such a change goes through libnftables (diffBatch).
  const created = newClasses(from, to);
  if (created.length > 0) throw new Error(`netlink batch: new rule classes ${created.map((c) => c.set).join(', ')} are written through libnftables`);
  const diff = diffRules(from, to);
  const out: Buffer[] = [];
  for (const r of diff.created) createMessages(out, tableName, r);
  elementMessages(out, tableName, 'delete', diff.removed);
  elementMessages(out, tableName, 'add', diff.added);
  for (const r of diff.gone) removeMessages(out, tableName, r);
  return out;
}
