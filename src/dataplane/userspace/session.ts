/**
 * One tracked flow: its forward and reverse flow keys, its rewrite, its
 * TCP state and counters. Addresses and ports live in the keys only
 * (see packet.ts for the layout); SessionInfo is built from them on demand.
 */
import type { Protocol } from '../../config/model.js';
import type { CompiledRule } from '../route-lookup.js';
import type { RuleCounters } from '../telemetry.js';
import { word32Delta, wordDelta } from './checksum.js';
import { KEY_WORDS } from './packet.js';

export const SYN_SENT = 0;
export const SYN_RECV = 1;
export const ESTABLISHED = 2;
export const FIN_WAIT = 3;
export const CLOSE_WAIT = 4;
export const TIME_WAIT = 5;
export const CLOSED = 6;
export const UDP_ACTIVE = 7;

export const STATE_NAMES = ['syn_sent', 'syn_recv', 'established', 'fin_wait', 'close_wait', 'time_wait', 'closed', 'active'] as const;
export type StateName = (typeof STATE_NAMES)[number];

/** Milliseconds a TCP session may stay idle in each state before GC removes it (UDP: the rule's udp_idle_timeout_ms). */
export interface Timeouts {
  synSent: number;
  synRecv: number;
  established: number;
  finWait: number;
  closeWait: number;
  timeWait: number;
  closed: number;
}

/** Close to Linux conntrack's defaults, with a shorter established timeout (2 h instead of 5 days). */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  synSent: 30_000,
  synRecv: 30_000,
  established: 7_200_000,
  finWait: 120_000,
  closeWait: 60_000,
  timeWait: 120_000,
  closed: 10_000,
});

export function timeoutTable(t: Timeouts): Float64Array {
  return Float64Array.from([t.synSent, t.synRecv, t.established, t.finWait, t.closeWait, t.timeWait, t.closed]);
}

/** Who ended a TCP session first. */
export const CLOSED_BY_NONE = 0;
export const CLOSED_BY_CLIENT = 1;
export const CLOSED_BY_TARGET = 2;

/** Offset of the reverse key in Session.keys. */
export const REV = KEY_WORDS;

/**
 * A session's slot record (Session.keys), 32 words, read by the native fast
 * path too (native/tun/fastpath.h has the same layout): forward key, reverse
 * key, the checksum deltas of each direction, the state, and what the fast
 * path adds (last seen, and pending byte and packet counts per direction)
 * until SessionTable folds it into the session.
 */
export const RECORD_WORDS = 32;
export const REC_FWD_IP_DELTA = 20;
export const REC_FWD_L4_DELTA = 21;
export const REC_REV_IP_DELTA = 22;
export const REC_REV_L4_DELTA = 23;
export const REC_STATE = 24;
/** Milliseconds after the table's native base time, plus one; 0: not seen by the fast path. */
export const REC_LAST_SEEN = 25;
/** 64-bit pending byte counts at words 26 (forward) and 28 (reverse): BigUint64Array indexes 13 and 14. */
export const REC_FWD_BYTES64 = 13;
export const REC_REV_BYTES64 = 14;
export const REC_FWD_PACKETS = 30;
export const REC_REV_PACKETS = 31;

/** The state word (REC_STATE): state in bits 0-7, who closed first (CLOSED_BY_*) in bits 8-9. */
const CLOSED_BY_SHIFT = 8;

export class Session {
  bytesFromClient = 0;
  packetsFromClient = 0;
  bytesToClient = 0;
  packetsToClient = 0;
  /** SNAT binding port, or -1. */
  natPort = -1;

  constructor(
    /**
     * The slot record (RECORD_WORDS above): [0, KEY_WORDS) forward key (client -> listener); [REV, 2*KEY_WORDS) reverse
     * key (target -> upstream local); checksum deltas; state. The session table's view of its slot while the session is
     * live (no allocation per new flow), a copy of its own once removed.
     */
    public keys: Uint32Array,
    readonly id: number,
    readonly slot: number,
    readonly protocol: Protocol,
    readonly family: 4 | 6,
    readonly rule: CompiledRule,
    readonly counters: RuleCounters,
    readonly generation: number,
    readonly createdAt: number,
    public lastSeen: number,
  ) {}

  get state(): number {
    return this.keys[REC_STATE]! & 0xff;
  }

  get closedBy(): number {
    return (this.keys[REC_STATE]! >>> CLOSED_BY_SHIFT) & 3;
  }

  /** A new session's state (nobody has closed it). */
  resetState(state: number): void {
    Atomics.store(this.keys, REC_STATE, state);
  }

  /**
   * Moves state and closer from `before` (the word read when deciding) to
   * the given ones; false when the native fast path changed the word
   * meanwhile (the caller decides again on the new one).
   */
  transition(before: number, state: number, closedBy: number): boolean {
    return Atomics.compareExchange(this.keys, REC_STATE, before, state | (closedBy << CLOSED_BY_SHIFT)) === before;
  }

  /** The state word, for transition(). */
  get stateWord(): number {
    return Atomics.load(this.keys, REC_STATE);
  }

  /** Checksum adjustments (see checksum.ts) for a forward / reverse packet: IP header (the addresses), then TCP/UDP. */
  get fwdIpDelta(): number {
    return this.keys[REC_FWD_IP_DELTA]!;
  }

  get fwdL4Delta(): number {
    return this.keys[REC_FWD_L4_DELTA]!;
  }

  get revIpDelta(): number {
    return this.keys[REC_REV_IP_DELTA]!;
  }

  get revL4Delta(): number {
    return this.keys[REC_REV_L4_DELTA]!;
  }

  /** Computes the rewrites once the keys are filled in: a packet of one direction leaves as the other key swapped. */
  computeDeltas(): void {
    const k = this.keys;
    let fwdIp = 0;
    let revIp = 0;
    const words = this.family === 4 ? 1 : 4;
    for (let w = 0; w < words; w++) {
      // Forward: source becomes reverse's destination, destination becomes reverse's source.
      fwdIp += word32Delta(k[1 + w]!, k[REV + 5 + w]!) + word32Delta(k[5 + w]!, k[REV + 1 + w]!);
      revIp += word32Delta(k[REV + 1 + w]!, k[5 + w]!) + word32Delta(k[REV + 5 + w]!, k[1 + w]!);
    }
    const fwdPorts = k[9]!;
    const revPorts = k[REV + 9]!;
    const fwdPortsNew = (((revPorts & 0xffff) << 16) | (revPorts >>> 16)) >>> 0;
    const revPortsNew = (((fwdPorts & 0xffff) << 16) | (fwdPorts >>> 16)) >>> 0;
    k[REC_FWD_IP_DELTA] = fwdIp;
    k[REC_REV_IP_DELTA] = revIp;
    k[REC_FWD_L4_DELTA] = fwdIp + wordDelta(fwdPorts >>> 16, fwdPortsNew >>> 16) + wordDelta(fwdPorts & 0xffff, fwdPortsNew & 0xffff);
    k[REC_REV_L4_DELTA] = revIp + wordDelta(revPorts >>> 16, revPortsNew >>> 16) + wordDelta(revPorts & 0xffff, revPortsNew & 0xffff);
  }
}
