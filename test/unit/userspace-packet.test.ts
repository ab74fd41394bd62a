/**
 * Packet parsing and checksums of the userspace backend: incremental updates
 * (RFC 1624) always equal a full recomputation, and no input makes the
 * parser throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adjustChecksum, ipv4HeaderChecksum, transportChecksum, word32Delta, wordDelta } from '../../src/dataplane/userspace/checksum.js';
import {
  buildPacket,
  DROP_BAD_IP,
  DROP_BAD_L4,
  DROP_FRAGMENT,
  DROP_REASONS,
  DROP_TRUNCATED,
  DROP_UNSUPPORTED,
  DROP_V6_EXT,
  KEY_WORDS,
  OK,
  PacketView,
  parsePacket,
  TCP_ACK,
  TCP_SYN,
} from '../../src/dataplane/userspace/packet.js';
import { fields, packet } from '../helpers/packets.js';

const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const portArb = fc.integer({ min: 0, max: 65535 });

const specArb = fc.oneof(
  fc.record({ family: fc.constant(4 as const), source: v4, destination: v4 }),
  fc.record({ family: fc.constant(6 as const), source: v6, destination: v6 }),
).chain((addrs) =>
  fc.record({
    family: fc.constant(addrs.family),
    source: fc.constant(addrs.source),
    destination: fc.constant(addrs.destination),
    protocol: fc.constantFrom('tcp' as const, 'udp' as const),
    sourcePort: portArb,
    destinationPort: portArb,
    tcpFlags: fc.integer({ min: 0, max: 255 }),
    seq: fc.nat(),
    payload: fc.uint8Array({ maxLength: 64 }),
  }),
);

function read32(buf: Uint8Array, o: number): number {
  return ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
}

describe('checksums', () => {
  it('an incremental update after rewriting addresses and ports equals full recomputation', () => {
    fc.assert(
      fc.property(specArb, v4, v6, portArb, portArb, (spec, new4, new6, newSport, newDport) => {
        const buf = buildPacket(spec);
        const view = new PacketView();
        expect(parsePacket(buf, buf.length, view, new Uint32Array(KEY_WORDS))).toBe(OK);
        const addrOffsets = spec.family === 4 ? [12, 16] : [8, 24];
        const replacement = spec.family === 4 ? new4 : new6;
        let ipDelta = 0;
        // Rewrite the destination address word by word, as NAT does.
        for (let i = 0; i < replacement.length; i += 4) {
          const o = addrOffsets[1]! + i;
          const before = read32(buf, o);
          buf.set(replacement.subarray(i, i + 4), o);
          ipDelta += word32Delta(before, read32(buf, o));
        }
        const l4 = view.l4Offset;
        const oldPorts = [(buf[l4]! << 8) | buf[l4 + 1]!, (buf[l4 + 2]! << 8) | buf[l4 + 3]!];
        buf[l4] = newSport >> 8;
        buf[l4 + 1] = newSport & 0xff;
        buf[l4 + 2] = newDport >> 8;
        buf[l4 + 3] = newDport & 0xff;
        const l4Delta = ipDelta + wordDelta(oldPorts[0]!, newSport) + wordDelta(oldPorts[1]!, newDport);
        const co = view.checksumOffset;
        let c = adjustChecksum((buf[co]! << 8) | buf[co + 1]!, l4Delta);
        if (c === 0 && spec.protocol === 'udp') c = 0xffff;
        const full = transportChecksum(buf, 0, spec.family, view.protocol, l4, view.l4Length, co);
        // 0x0000 and 0xffff are the same ones' complement value for TCP.
        expect(c === full || (spec.protocol === 'tcp' && c + full === 0xffff && (c === 0 || full === 0))).toBe(true);
        if (spec.family === 4) {
          const ip = adjustChecksum((buf[10]! << 8) | buf[11]!, ipDelta);
          expect(ip).toBe(ipv4HeaderChecksum(buf, 0, 20));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('built packets carry correct checksums', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        expect(fields(buildPacket(spec)).checksumsOk).toBe(true);
      }),
    );
  });
});

describe('parsing', () => {
  it('never throws, whatever the bytes, and returns a known code', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.nat({ max: 130 }), (bytes, length) => {
        const code = parsePacket(bytes, Math.min(length, bytes.length), new PacketView(), new Uint32Array(KEY_WORDS));
        expect(code === OK || DROP_REASONS[code] !== undefined).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws on mutations of valid packets', () => {
    fc.assert(
      fc.property(specArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(), (spec, edits, cut) => {
        const buf = buildPacket(spec);
        for (const [at, value] of edits) buf[at % buf.length] = value;
        const code = parsePacket(buf, cut % (buf.length + 1), new PacketView(), new Uint32Array(KEY_WORDS));
        expect(code === OK || DROP_REASONS[code] !== undefined).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  const base = (): Uint8Array => packet({ protocol: 'tcp', source: '10.0.0.1', destination: '10.0.0.2', sourcePort: 1, destinationPort: 2, tcpFlags: TCP_SYN });
  const parse = (buf: Uint8Array, length = buf.length): number => parsePacket(buf, length, new PacketView(), new Uint32Array(KEY_WORDS));

  it('names each malformed or unsupported packet by its reason', () => {
    expect(parse(base(), 10)).toBe(DROP_TRUNCATED);
    const badVersion = base();
    badVersion[0] = 0x55;
    expect(parse(badVersion)).toBe(DROP_BAD_IP);
    const shortIhl = base();
    shortIhl[0] = 0x44;
    expect(parse(shortIhl)).toBe(DROP_BAD_IP);
    const fragment = base();
    fragment[6] = 0x20; // more fragments
    expect(parse(fragment)).toBe(DROP_FRAGMENT);
    const icmp = base();
    icmp[9] = 1;
    expect(parse(icmp)).toBe(DROP_UNSUPPORTED);
    const badOffset = base();
    badOffset[32] = 0x20; // data offset 2 words
    expect(parse(badOffset)).toBe(DROP_BAD_L4);
    const v6 = packet({ protocol: 'udp', source: '::1', destination: '::2', sourcePort: 1, destinationPort: 2 });
    expect(parse(v6)).toBe(OK);
    v6[6] = 44; // fragment header
    expect(parse(v6)).toBe(DROP_V6_EXT);
    const udp = packet({ protocol: 'udp', source: '10.0.0.1', destination: '10.0.0.2', sourcePort: 1, destinationPort: 2, payload: new Uint8Array(4) });
    udp[25] = 40; // UDP length beyond the packet
    expect(parse(udp)).toBe(DROP_BAD_L4);
  });

  it('reads ports, flags and payload', () => {
    const f = fields(packet({ protocol: 'tcp', source: '::1', destination: 'fe80::2', sourcePort: 40000, destinationPort: 443, tcpFlags: TCP_SYN | TCP_ACK, payload: new Uint8Array([7, 8]) }));
    expect(f).toEqual({ source: '::1', destination: 'fe80::2', sourcePort: 40000, destinationPort: 443, tcpFlags: TCP_SYN | TCP_ACK, payload: [7, 8], checksumsOk: true });
  });
});

describe('drop codes', () => {
  it('each code the engine returns names its reason in DROP_REASONS', async () => {
    const p = await import('../../src/dataplane/userspace/packet.js');
    expect(p.DROP_REASONS[p.DROP_NO_RULE]).toBe('no_rule');
    expect(p.DROP_REASONS[p.DROP_TUPLE_CONFLICT]).toBe('tuple_conflict');
    expect(p.DROP_REASONS[p.DROP_HA_STANDBY]).toBe('ha_standby');
    expect(p.DROP_POLICY).toBe(p.DROP_REASONS.length);
  });
});
