/**
 * Internet checksums (RFC 1071) and their incremental update (RFC 1624,
 * eqn. 3: HC' = ~(~HC + ~m + m')). A NAT rewrite changes a fixed set of
 * 16-bit words per direction of a session, so the adjustment Σ(~m + m') is
 * computed once per session and each packet pays one addition and a fold.
 */

/** Folds a sum of 16-bit words to 16 bits with end-around carry. */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** Ones' complement sum of `length` bytes at `offset` (big-endian words, odd tail padded), plus `initial`. */
export function sumBytes(buf: Uint8Array, offset: number, length: number, initial = 0): number {
  let sum = initial;
  const end = offset + (length & ~1);
  for (let i = offset; i < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (length & 1) sum += buf[offset + length - 1]! << 8;
  return fold(sum);
}

/** The adjustment for one 16-bit word changing from `before` to `after`. */
export function wordDelta(before: number, after: number): number {
  return (~before & 0xffff) + (after & 0xffff);
}

/** The adjustment for one 32-bit word (two 16-bit words) changing. */
export function word32Delta(before: number, after: number): number {
  return wordDelta(before >>> 16, after >>> 16) + wordDelta(before & 0xffff, after & 0xffff);
}

/** RFC 1624 eqn. 3: the checksum after words changed by `delta` (a sum of wordDelta()s). */
export function adjustChecksum(checksum: number, delta: number): number {
  return ~fold((~checksum & 0xffff) + delta) & 0xffff;
}

/** Full IPv4 header checksum of the header at `offset` (its checksum field counted as zero). */
export function ipv4HeaderChecksum(buf: Uint8Array, offset: number, headerLength: number): number {
  const stored = (buf[offset + 10]! << 8) | buf[offset + 11]!;
  const sum = sumBytes(buf, offset, headerLength);
  // Remove the stored checksum's contribution instead of copying the header.
  return ~fold(sum + (~stored & 0xffff)) & 0xffff;
}

/**
 * Full TCP/UDP checksum over the pseudo-header and `l4Length` bytes at
 * `l4Offset`, with the segment's checksum field (at `checksumOffset`)
 * counted as zero. IPv4 addresses at 12/16, IPv6 at 8/24 of `ipOffset`.
 */
export function transportChecksum(
  buf: Uint8Array,
  ipOffset: number,
  family: 4 | 6,
  protocol: number,
  l4Offset: number,
  l4Length: number,
  checksumOffset: number,
): number {
  let sum = family === 4 ? sumBytes(buf, ipOffset + 12, 8) : sumBytes(buf, ipOffset + 8, 32);
  sum += protocol + (l4Length >>> 16) + (l4Length & 0xffff);
  sum = sumBytes(buf, l4Offset, l4Length, sum);
  const stored = (buf[checksumOffset]! << 8) | buf[checksumOffset + 1]!;
  const result = ~fold(sum + (~stored & 0xffff)) & 0xffff;
  // UDP sends a computed 0 as all ones (0 means "no checksum"); TCP's 0 and 0xffff are equivalent.
  return protocol === 17 && result === 0 ? 0xffff : result;
}
