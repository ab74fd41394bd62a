/**
 * Packet helpers for the userspace backend's tests: build real IP packets,
 * read their fields, and verify their checksums by full recomputation.
 */
import { ipv4HeaderChecksum, transportChecksum } from '../../src/dataplane/userspace/checksum.js';
import { buildPacket, KEY_WORDS, OK, PacketView, parsePacket, PROTO_UDP, type BuildSpec } from '../../src/dataplane/userspace/packet.js';
import { ipText, parseIp } from '../../src/config/ip.js';

export interface PacketFields {
  source: string;
  destination: string;
  sourcePort: number;
  destinationPort: number;
  tcpFlags: number;
  payload: number[];
  /** Both checksums equal their full recomputation. */
  checksumsOk: boolean;
}

export function packet(spec: Omit<BuildSpec, 'family' | 'source' | 'destination'> & { source: string; destination: string }): Uint8Array {
  const source = parseIp(spec.source)!;
  const destination = parseIp(spec.destination)!;
  return buildPacket({ ...spec, family: source.family, source: source.bytes, destination: destination.bytes });
}

export function fields(buf: Uint8Array): PacketFields {
  const view = new PacketView();
  const code = parsePacket(buf, buf.length, view, new Uint32Array(KEY_WORDS));
  if (code !== OK) throw new Error(`packet does not parse: drop code ${code}`);
  const v4 = view.family === 4;
  const source = ipText({ family: view.family, bytes: v4 ? buf.slice(12, 16) : buf.slice(8, 24) });
  const destination = ipText({ family: view.family, bytes: v4 ? buf.slice(16, 20) : buf.slice(24, 40) });
  const stored = (buf[view.checksumOffset]! << 8) | buf[view.checksumOffset + 1]!;
  const l4Ok =
    (v4 && view.protocol === PROTO_UDP && stored === 0) ||
    transportChecksum(buf, 0, view.family, view.protocol, view.l4Offset, view.l4Length, view.checksumOffset) === stored;
  const ipOk = !v4 || ipv4HeaderChecksum(buf, 0, view.ipHeaderLength) === ((buf[10]! << 8) | buf[11]!);
  return {
    source,
    destination,
    sourcePort: view.sourcePort,
    destinationPort: view.destinationPort,
    tcpFlags: view.tcpFlags,
    payload: [...buf.slice(view.length - view.payloadLength, view.length)],
    checksumsOk: l4Ok && ipOk,
  };
}
