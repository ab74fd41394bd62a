/**
 * libpcap capture files (the classic format, any byte order, micro- or
 * nanosecond timestamps): reading IP packets out of Ethernet (with 802.1Q
 * tags), Linux cooked (SLL) and raw-IP link types, and writing raw-IP
 * captures (LINKTYPE_RAW), which tshark and tcpdump read directly.
 */
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;

export interface CaptureRecord {
  /** Microseconds since the epoch. */
  timestampMicros: number;
  /** The IP packet (a copy), or undefined when the frame carries something else. */
  packet: Uint8Array | undefined;
}

export interface Capture {
  linkType: number;
  records: CaptureRecord[];
}

function ipOf(frame: Uint8Array, linkType: number): Uint8Array | undefined {
  let offset: number;
  let etherType: number;
  switch (linkType) {
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      return frame.slice();
    case LINKTYPE_ETHERNET:
      offset = 14;
      etherType = (frame[12]! << 8) | frame[13]!;
      while ((etherType === 0x8100 || etherType === 0x88a8) && frame.length >= offset + 4) {
        etherType = (frame[offset + 2]! << 8) | frame[offset + 3]!;
        offset += 4;
      }
      break;
    case LINKTYPE_LINUX_SLL:
      offset = 16;
      etherType = (frame[14]! << 8) | frame[15]!;
      break;
    default:
      throw new Error(`capture link type ${linkType} is not supported (Ethernet, Linux SLL and raw IP are)`);
  }
  if (frame.length < offset || (etherType !== 0x0800 && etherType !== 0x86dd)) return undefined;
  return frame.slice(offset);
}

/** Parses a whole capture file; throws with context on a file that is not one. */
export function readCapture(file: Uint8Array): Capture {
  if (file.length < 24) throw new Error(`not a pcap file: ${file.length} bytes, shorter than its 24-byte header`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = view.getUint32(0, false);
  const formats: Record<number, { little: boolean; nanos: boolean }> = {
    0xa1b2c3d4: { little: false, nanos: false },
    0xd4c3b2a1: { little: true, nanos: false },
    0xa1b23c4d: { little: false, nanos: true },
    0x4d3cb2a1: { little: true, nanos: true },
  };
  const format = formats[magic];
  if (!format) throw new Error(`not a pcap file: magic 0x${magic.toString(16)} (pcapng is not supported; convert with editcap -F pcap)`);
  const { little, nanos } = format;
  const linkType = view.getUint32(20, little) & 0x0fffffff;
  const records: CaptureRecord[] = [];
  let offset = 24;
  while (offset + 16 <= file.length) {
    const seconds = view.getUint32(offset, little);
    const fraction = view.getUint32(offset + 4, little);
    const captured = view.getUint32(offset + 8, little);
    const start = offset + 16;
    if (start + captured > file.length) throw new Error(`truncated pcap record at byte ${offset}: ${captured} bytes announced`);
    const frame = file.subarray(start, start + captured);
    records.push({ timestampMicros: seconds * 1e6 + (nanos ? Math.floor(fraction / 1000) : fraction), packet: ipOf(frame, linkType) });
    offset = start + captured;
  }
  return { linkType, records };
}

/** A raw-IP capture of `records` (little-endian, microsecond timestamps). */
export function writeCapture(records: readonly { timestampMicros: number; packet: Uint8Array }[]): Uint8Array {
  const size = 24 + records.reduce((n, r) => n + 16 + r.packet.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0xa1b2c3d4, true);
  view.setUint16(4, 2, true);
  view.setUint16(6, 4, true);
  view.setUint32(16, 262_144, true);
  view.setUint32(20, LINKTYPE_RAW, true);
  let offset = 24;
  for (const r of records) {
    view.setUint32(offset, Math.floor(r.timestampMicros / 1e6), true);
    view.setUint32(offset + 4, r.timestampMicros % 1e6, true);
    view.setUint32(offset + 8, r.packet.length, true);
    view.setUint32(offset + 12, r.packet.length, true);
    out.set(r.packet, offset + 16);
    offset += 16 + r.packet.length;
  }
  return out;
}
