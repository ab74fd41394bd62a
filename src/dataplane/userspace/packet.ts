/**
 * IPv4/IPv6 + TCP/UDP parsing into a reused view, and building (for Trace,
 * tests and benchmarks). Parsing never throws: anything malformed or not
 * handled yields a drop code, counted by reason. The flow key of a packet
 * is written into a caller-owned Uint32Array (see flow-table.ts):
 *   [0] protocol | family << 8, [1..4] source address, [5..8] destination
 *   address (IPv4 in [1] and [5], rest 0), [9] source port << 16 | dest port.
 */
import { PACKET_DROP_REASONS, type PacketDropReason } from '../telemetry.js';
import { transportChecksum, ipv4HeaderChecksum } from './checksum.js';

export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

/** Drop codes; 0 is "parsed". Index into DROP_REASONS: code n is PACKET_DROP_REASONS[n - 1] (the DROP_* constants below). */
export const DROP_REASONS: readonly (PacketDropReason | undefined)[] = [undefined, ...PACKET_DROP_REASONS];
export const OK = 0;
export const DROP_TRUNCATED = 1;
export const DROP_BAD_IP = 2;
export const DROP_BAD_L4 = 3;
export const DROP_FRAGMENT = 4;
export const DROP_UNSUPPORTED = 5;
export const DROP_V6_EXT = 6;
export const DROP_NO_RULE = 7;
export const DROP_NO_SESSION = 8;
export const DROP_FAMILY = 9;
export const DROP_NAT_EXHAUSTED = 10;
export const DROP_TUPLE_CONFLICT = 11;
// 12-15 (tun_queue_full ... slow_path_overflow) are counted by the TUN port, never returned by the engine.
export const DROP_HA_STANDBY = 16;
/** Policy drops are counted as telemetry DropReasons (filter, rate, cap, resource), not packet drops. */
export const DROP_POLICY = 17;

export const KEY_WORDS = 10;

export class PacketView {
  family: 4 | 6 = 4;
  protocol = 0;
  /** Bytes of the IP packet (total length), which may be less than the buffer. */
  length = 0;
  ipHeaderLength = 0;
  l4Offset = 0;
  l4Length = 0;
  payloadLength = 0;
  sourcePort = 0;
  destinationPort = 0;
  tcpFlags = 0;
  /** Offset of the TCP/UDP checksum field. */
  checksumOffset = 0;
}

function word(buf: Uint8Array, o: number): number {
  return ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
}

/** Parses the IP packet at the start of `buf` (`length` bytes) into `view` and its flow key into `key`. */
export function parsePacket(buf: Uint8Array, length: number, view: PacketView, key: Uint32Array): number {
  if (length < 1) return DROP_TRUNCATED;
  const version = buf[0]! >> 4;
  let l4: number;
  let end: number;
  let protocol: number;
  if (version === 4) {
    if (length < 20) return DROP_TRUNCATED;
    const ihl = (buf[0]! & 0x0f) * 4;
    const total = (buf[2]! << 8) | buf[3]!;
    if (ihl < 20 || total < ihl) return DROP_BAD_IP;
    if (total > length) return DROP_TRUNCATED;
    // More-fragments or a fragment offset: the ports are not in every fragment.
    if (((buf[6]! & 0x3f) << 8) | buf[7]!) return DROP_FRAGMENT;
    protocol = buf[9]!;
    view.family = 4;
    view.ipHeaderLength = ihl;
    l4 = ihl;
    end = total;
    key[1] = word(buf, 12);
    key[2] = 0;
    key[3] = 0;
    key[4] = 0;
    key[5] = word(buf, 16);
    key[6] = 0;
    key[7] = 0;
    key[8] = 0;
  } else if (version === 6) {
    if (length < 40) return DROP_TRUNCATED;
    const payload = (buf[4]! << 8) | buf[5]!;
    if (40 + payload > length) return DROP_TRUNCATED;
    protocol = buf[6]!;
    // Hop-by-hop, routing, fragment, destination options, AH, ESP, mobility: not handled.
    if (protocol === 0 || protocol === 43 || protocol === 44 || protocol === 60 || protocol === 51 || protocol === 50 || protocol === 135) {
      return DROP_V6_EXT;
    }
    view.family = 6;
    view.ipHeaderLength = 40;
    l4 = 40;
    end = 40 + payload;
    for (let i = 0; i < 4; i++) {
      key[1 + i] = word(buf, 8 + 4 * i);
      key[5 + i] = word(buf, 24 + 4 * i);
    }
  } else {
    return DROP_BAD_IP;
  }
  const l4Length = end - l4;
  if (protocol === PROTO_TCP) {
    if (l4Length < 20) return DROP_BAD_L4;
    const dataOffset = (buf[l4 + 12]! >> 4) * 4;
    if (dataOffset < 20 || dataOffset > l4Length) return DROP_BAD_L4;
    view.tcpFlags = buf[l4 + 13]!;
    view.checksumOffset = l4 + 16;
    view.payloadLength = l4Length - dataOffset;
  } else if (protocol === PROTO_UDP) {
    if (l4Length < 8) return DROP_BAD_L4;
    const udpLength = (buf[l4 + 4]! << 8) | buf[l4 + 5]!;
    if (udpLength < 8 || udpLength > l4Length) return DROP_BAD_L4;
    view.tcpFlags = 0;
    view.checksumOffset = l4 + 6;
    view.payloadLength = udpLength - 8;
  } else {
    return DROP_UNSUPPORTED;
  }
  view.protocol = protocol;
  view.length = end;
  view.l4Offset = l4;
  view.l4Length = l4Length;
  view.sourcePort = (buf[l4]! << 8) | buf[l4 + 1]!;
  view.destinationPort = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
  key[0] = protocol | (view.family << 8);
  key[9] = ((view.sourcePort << 16) | view.destinationPort) >>> 0;
  return OK;
}

export interface BuildSpec {
  family: 4 | 6;
  protocol: 'tcp' | 'udp';
  /** 4 or 16 bytes each. */
  source: Uint8Array;
  destination: Uint8Array;
  sourcePort: number;
  destinationPort: number;
  /** TCP flags byte (TCP_SYN | TCP_ACK ...). */
  tcpFlags?: number;
  seq?: number;
  ack?: number;
  payload?: Uint8Array;
  ttl?: number;
}

/** A well-formed packet with correct checksums. */
export function buildPacket(spec: BuildSpec): Uint8Array {
  const payload = spec.payload ?? new Uint8Array(0);
  const tcp = spec.protocol === 'tcp';
  const l4Header = tcp ? 20 : 8;
  const ipHeader = spec.family === 4 ? 20 : 40;
  const l4Length = l4Header + payload.length;
  const buf = new Uint8Array(ipHeader + l4Length);
  const protocol = tcp ? PROTO_TCP : PROTO_UDP;
  if (spec.family === 4) {
    buf[0] = 0x45;
    buf[2] = buf.length >> 8;
    buf[3] = buf.length & 0xff;
    buf[6] = 0x40; // don't fragment
    buf[8] = spec.ttl ?? 64;
    buf[9] = protocol;
    buf.set(spec.source, 12);
    buf.set(spec.destination, 16);
    const c = ipv4HeaderChecksum(buf, 0, 20);
    buf[10] = c >> 8;
    buf[11] = c & 0xff;
  } else {
    buf[0] = 0x60;
    buf[4] = l4Length >> 8;
    buf[5] = l4Length & 0xff;
    buf[6] = protocol;
    buf[7] = spec.ttl ?? 64;
    buf.set(spec.source, 8);
    buf.set(spec.destination, 24);
  }
  const l4 = ipHeader;
  buf[l4] = spec.sourcePort >> 8;
  buf[l4 + 1] = spec.sourcePort & 0xff;
  buf[l4 + 2] = spec.destinationPort >> 8;
  buf[l4 + 3] = spec.destinationPort & 0xff;
  let checksumOffset: number;
  if (tcp) {
    const dv = new DataView(buf.buffer);
    dv.setUint32(l4 + 4, (spec.seq ?? 0) >>> 0);
    dv.setUint32(l4 + 8, (spec.ack ?? 0) >>> 0);
    buf[l4 + 12] = 5 << 4;
    buf[l4 + 13] = spec.tcpFlags ?? 0;
    buf[l4 + 14] = 0xff;
    buf[l4 + 15] = 0xff;
    checksumOffset = l4 + 16;
  } else {
    buf[l4 + 4] = l4Length >> 8;
    buf[l4 + 5] = l4Length & 0xff;
    checksumOffset = l4 + 6;
  }
  buf.set(payload, l4 + l4Header);
  const c = transportChecksum(buf, 0, spec.family, protocol, l4, l4Length, checksumOffset);
  buf[checksumOffset] = c >> 8;
  buf[checksumOffset + 1] = c & 0xff;
  return buf;
}

/** Recomputes every checksum of a parsed packet in place (used for captures taken before checksum offload filled them in). */
export function recomputeChecksums(buf: Uint8Array, view: PacketView): void {
  if (view.family === 4) {
    const c = ipv4HeaderChecksum(buf, 0, view.ipHeaderLength);
    buf[10] = c >> 8;
    buf[11] = c & 0xff;
  }
  if (view.protocol === PROTO_UDP && view.family === 4 && buf[view.checksumOffset] === 0 && buf[view.checksumOffset + 1] === 0) return;
  const c = transportChecksum(buf, 0, view.family, view.protocol, view.l4Offset, view.l4Length, view.checksumOffset);
  buf[view.checksumOffset] = c >> 8;
  buf[view.checksumOffset + 1] = c & 0xff;
}
