/**
 * PROXY protocol headers (haproxy's proxy-protocol.txt, versions 1 and 2)
 * for a TCP connection: what the target reads before the client's first
 * byte, telling it the client's address and the address the client dialled.
 */
import { isIPv4 } from 'node:net';
import { clientAddressBytes } from '../config/cidr.js';
import type { Endpoint } from './session-store.js';

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Version 2, command PROXY. */
const V2_PROXY = 0x21;
const V2_TCP4 = 0x11;
const V2_TCP6 = 0x21;

/** An IPv4-mapped IPv6 address (a dual-stack socket's IPv4 peer) as plain IPv4. */
function unmapped(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && isIPv4(lower.slice(7)) ? lower.slice(7) : address;
}

export function proxyHeader(version: 'v1' | 'v2', client: Endpoint, local: Endpoint): Buffer {
  const source = unmapped(client.address);
  const destination = unmapped(local.address);
  // Both ends of one TCP connection share a family once mapped addresses are unmapped.
  const v4 = isIPv4(source) && isIPv4(destination);
  if (version === 'v1') {
    return Buffer.from(`PROXY ${v4 ? 'TCP4' : 'TCP6'} ${source} ${destination} ${client.port} ${local.port}\r\n`, 'latin1');
  }
  const src = clientAddressBytes(v4 ? source : client.address.replace(/%.*$/, '')) ?? new Uint8Array(v4 ? 4 : 16);
  const dst = clientAddressBytes(v4 ? destination : local.address.replace(/%.*$/, '')) ?? new Uint8Array(v4 ? 4 : 16);
  const addressLength = v4 ? 12 : 36;
  const header = Buffer.alloc(16 + addressLength);
  V2_SIGNATURE.copy(header, 0);
  header[12] = V2_PROXY;
  header[13] = v4 ? V2_TCP4 : V2_TCP6;
  header.writeUInt16BE(addressLength, 14);
  const width = v4 ? 4 : 16;
  header.set(src.subarray(0, width), 16);
  header.set(dst.subarray(0, width), 16 + width);
  header.writeUInt16BE(client.port, 16 + 2 * width);
  header.writeUInt16BE(local.port, 18 + 2 * width);
  return header;
}
