/**
 * The packet engine: parse, look up the flow, and either take the fast path
 * (cached rewrite, incremental checksums, TCP state) or, for a flow's first
 * packet, match rules, filter and limits and open a session. One call
 * processes one packet entirely under the route table it started with; an
 * apply swaps the table by one assignment between packets.
 */
import { mapTargetPort } from '../../config/ports.js';
import { ipText, ipv6Key, parseIp } from '../../config/ip.js';
import type { Plan } from '../../plan/model.js';
import { filterReevaluations, type AdmissionRefusal } from '../admission.js';
import { FloodTracker, ruleFloodCounters } from '../flood-tracker.js';
import { RouteTable, type CompiledRule } from '../route-lookup.js';
import {
  emptyTrafficCounters,
  type DropReason,
  type PacketDropReason,
  type RuleCounters,
  type RuleFloodCounters,
  type Telemetry,
  type TrafficCounters,
} from '../telemetry.js';
import { initialTraceResult, traceAdmission, type TraceRequest, type TraceResult } from '../tracer.js';
import { adjustChecksum, fold } from './checksum.js';
import {
  buildPacket,
  DROP_FAMILY,
  DROP_HA_STANDBY,
  DROP_NO_RULE,
  DROP_NO_SESSION,
  DROP_POLICY,
  DROP_REASONS,
  KEY_WORDS,
  OK,
  PacketView,
  parsePacket,
  PROTO_TCP,
  PROTO_UDP,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from './packet.js';
import {
  CLOSE_WAIT,
  CLOSED,
  CLOSED_BY_CLIENT,
  CLOSED_BY_NONE,
  CLOSED_BY_TARGET,
  DEFAULT_TIMEOUTS,
  ESTABLISHED,
  FIN_WAIT,
  REC_FWD_IP_DELTA,
  REC_FWD_L4_DELTA,
  REC_REV_IP_DELTA,
  REC_REV_L4_DELTA,
  REV,
  Session,
  STATE_NAMES,
  SYN_RECV,
  SYN_SENT,
  TIME_WAIT,
  timeoutTable,
  UDP_ACTIVE,
  type Timeouts,
} from './session.js';
import { SessionTable, type SessionTableOptions } from './session-table.js';

export interface EngineOptions extends SessionTableOptions {
  timeouts?: Partial<Timeouts>;
}

const NAME = 'userspace';

function write32(buf: Uint8Array, o: number, w: number): void {
  buf[o] = w >>> 24;
  buf[o + 1] = (w >>> 16) & 0xff;
  buf[o + 2] = (w >>> 8) & 0xff;
  buf[o + 3] = w & 0xff;
}

function counterBlock(rule: CompiledRule): RuleCounters {
  return { ...emptyTrafficCounters(), table: rule.table, ruleId: rule.ruleId, ruleName: rule.ruleName, protocol: rule.rule.protocol, counterId: rule.counterId };
}

export class Engine implements Telemetry {
  routes: RouteTable = RouteTable.EMPTY;
  /** Generation of the installed configuration (Telemetry.generation()). */
  configGeneration = 0;
  /** While closing: established sessions continue, new flows are refused. */
  draining = false;
  /** HA standby: sessions imported from the active are kept and forwarded, new flows are refused. */
  standby = false;
  readonly sessions: SessionTable;
  private readonly globalCounters: TrafficCounters = emptyTrafficCounters();
  private readonly packetDropCounts = new Float64Array(DROP_REASONS.length);
  private countersById = new Map<number, RuleCounters>();
  /** Refusals by source prefix, per counter id like `countersById`. */
  private floodsById = new Map<number, FloodTracker>();
  private readonly timeouts: Float64Array;
  private readonly view = new PacketView();
  private readonly key = new Uint32Array(KEY_WORDS);
  /** Of the packet being processed (offloads, see process()): its L4 checksum is partial; its GSO segment size or 0. */
  private partialChecksum = false;
  private gsoSize = 0;
  /** Drops counted outside the engine (the packet port's, the native loop's), added to global().packetDrops. */
  portDrops: () => Partial<Record<PacketDropReason, number>> = () => ({});

  constructor(options: EngineOptions = {}) {
    this.sessions = new SessionTable(this.globalCounters, options);
    this.timeouts = timeoutTable({ ...DEFAULT_TIMEOUTS, ...options.timeouts });
  }

  /** Swaps in a compiled configuration. Counters of rules whose counter id carries over are kept. */
  install(routes: RouteTable, generation: number): void {
    const counters = new Map<number, RuleCounters>();
    const floods = new Map<number, FloodTracker>();
    for (const rule of routes.rules.values()) {
      counters.set(rule.counterId, this.countersById.get(rule.counterId) ?? counterBlock(rule));
      floods.set(rule.counterId, this.floodsById.get(rule.counterId) ?? new FloodTracker());
    }
    this.countersById = counters;
    this.floodsById = floods;
    this.routes = routes;
    this.configGeneration = generation;
  }

  countersOf(rule: CompiledRule): RuleCounters {
    let c = this.countersById.get(rule.counterId);
    if (!c) {
      c = counterBlock(rule);
      this.countersById.set(rule.counterId, c);
      this.floodsById.set(rule.counterId, new FloodTracker());
    }
    return c;
  }

  /**
   * Processes the IP packet in `buf[0, length)`. Returns 0 when it is to be
   * sent on (rewritten in place) or a drop code (packet.ts), already counted.
   * From a TUN device with offloads: `partialChecksum` when its virtio-net
   * header says NEEDS_CSUM (the L4 checksum field holds the uncomplemented
   * pseudo-header sum, so only the address change applies), and the GSO
   * segment size of a super-packet, which counts as that many packets.
   */
  process(buf: Uint8Array, length: number, now: number, partialChecksum = false, gsoSize = 0): number {
    this.partialChecksum = partialChecksum;
    this.gsoSize = gsoSize;
    const v = this.view;
    const key = this.key;
    const parsed = parsePacket(buf, length, v, key);
    if (parsed !== OK) return this.dropPacket(parsed);
    const table = this.sessions;
    const value = table.flows.find(key, 0);
    if (value >= 0) {
      const s = table.slots[value >>> 1]!;
      const dir = value & 1;
      if (v.protocol === PROTO_TCP && (v.tcpFlags & (TCP_SYN | TCP_FIN | TCP_RST)) !== 0 && dir === 0 && s.state >= TIME_WAIT && (v.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
        // A new connection reusing the tuple of one that has ended.
        table.deleteWithCompanions(String(s.id), s.closedBy === CLOSED_BY_TARGET ? 'target' : 'client');
        return this.firstPacket(buf, v, key, now);
      }
      this.forward(buf, v, s, dir, now);
      return OK;
    }
    return this.firstPacket(buf, v, key, now);
  }

  private dropPacket(code: number): number {
    this.packetDropCounts[code]!++;
    return code;
  }

  private dropPolicy(reason: DropReason, counters: RuleCounters): number {
    counters.drops[reason] = (counters.drops[reason] ?? 0) + 1;
    this.globalCounters.drops[reason] = (this.globalCounters.drops[reason] ?? 0) + 1;
    return DROP_POLICY;
  }

  /** A refused admission: a policy drop, and the client's prefix for flood() (a session of a replaced rule version has no tracker any more). */
  private refuse(reason: AdmissionRefusal, counters: RuleCounters, client: Uint8Array): number {
    this.floodsById.get(counters.counterId)?.recordBytes(client, reason);
    return this.dropPolicy(reason, counters);
  }

  /** The source address bytes of the packet in `buf` (a view, not a copy). */
  private clientBytes(buf: Uint8Array, v: PacketView): Uint8Array {
    return v.family === 4 ? buf.subarray(12, 16) : buf.subarray(8, 24);
  }

  private firstPacket(buf: Uint8Array, v: PacketView, key: Uint32Array, now: number): number {
    if (v.protocol === PROTO_TCP && (v.tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) !== TCP_SYN) return this.dropPacket(DROP_NO_SESSION);
    if (this.draining) return this.dropPacket(DROP_NO_RULE);
    if (this.standby) return this.dropPacket(DROP_HA_STANDBY);
    const protocol = v.protocol === PROTO_TCP ? 'tcp' : 'udp';
    const routes = this.routes;
    const rule = v.family === 4 ? routes.lookupV4(protocol, key[5]!, v.destinationPort) : routes.lookupV6(protocol, ipv6Key(buf, 24), v.destinationPort);
    if (!rule) return this.dropPacket(DROP_NO_RULE);
    if (rule.target.family !== v.family) return this.dropPacket(DROP_FAMILY);
    const counters = this.countersOf(rule);
    const client = this.clientBytes(buf, v);
    const refused = rule.admission.admit(client, v.protocol === PROTO_UDP, now);
    if (refused) return this.refuse(refused, counters, client);
    const table = this.sessions;
    if (table.count() >= table.maxSessions) return this.dropPolicy('resource', counters);
    const opened = table.open(key, 0, rule, counters, mapTargetPort(rule.rule, v.destinationPort), this.configGeneration, now);
    if (typeof opened === 'number') return this.dropPacket(opened);
    this.forward(buf, v, opened, 0, now);
    return OK;
  }

  /** The fast path: rewrite to the other entry's tuple, adjust checksums, track state, count. */
  private forward(buf: Uint8Array, v: PacketView, s: Session, dir: number, now: number): void {
    const k = s.keys;
    const other = dir === 0 ? REV : 0;
    const ipDelta = k[dir === 0 ? REC_FWD_IP_DELTA : REC_REV_IP_DELTA]!;
    if (v.family === 4) {
      write32(buf, 12, k[other + 5]!);
      write32(buf, 16, k[other + 1]!);
      const c = adjustChecksum((buf[10]! << 8) | buf[11]!, ipDelta);
      buf[10] = c >>> 8;
      buf[11] = c & 0xff;
    } else {
      for (let i = 0; i < 4; i++) {
        write32(buf, 8 + 4 * i, k[other + 5 + i]!);
        write32(buf, 24 + 4 * i, k[other + 1 + i]!);
      }
    }
    const ports = k[other + 9]!;
    const l4 = v.l4Offset;
    buf[l4] = (ports >>> 8) & 0xff;
    buf[l4 + 1] = ports & 0xff;
    buf[l4 + 2] = ports >>> 24;
    buf[l4 + 3] = (ports >>> 16) & 0xff;
    const co = v.checksumOffset;
    const stored = (buf[co]! << 8) | buf[co + 1]!;
    if (this.partialChecksum) {
      // The ports are summed when the kernel completes the checksum; the pseudo-header's addresses are in the field already.
      const c = fold(stored + ipDelta);
      buf[co] = c >>> 8;
      buf[co + 1] = c & 0xff;
    } else if (!(stored === 0 && v.protocol === PROTO_UDP && v.family === 4)) {
      // An IPv4 UDP checksum of 0 means "none" and stays so.
      let c = adjustChecksum(stored, k[dir === 0 ? REC_FWD_L4_DELTA : REC_REV_L4_DELTA]!);
      if (c === 0 && v.protocol === PROTO_UDP) c = 0xffff;
      buf[co] = c >>> 8;
      buf[co + 1] = c & 0xff;
    }
    s.lastSeen = now;
    const counters = s.counters;
    const g = this.globalCounters;
    const bytes = v.payloadLength;
    const gso = this.gsoSize;
    const packets = gso > 0 && bytes > gso ? Math.ceil(bytes / gso) : 1;
    if (dir === 0) {
      s.bytesFromClient += bytes;
      s.packetsFromClient += packets;
      counters.bytesFromClient += bytes;
      counters.packetsFromClient += packets;
      g.bytesFromClient += bytes;
      g.packetsFromClient += packets;
    } else {
      s.bytesToClient += bytes;
      s.packetsToClient += packets;
      counters.bytesToClient += bytes;
      counters.packetsToClient += packets;
      g.bytesToClient += bytes;
      g.packetsToClient += packets;
    }
    if (v.protocol === PROTO_TCP && (s.state !== ESTABLISHED || (v.tcpFlags & (TCP_SYN | TCP_FIN | TCP_RST)) !== 0)) {
      this.track(s, dir, v.tcpFlags);
    }
  }

  /** The TCP state machine (native/tun/fastpath.c track() makes the same moves on the state word, concurrently: hence the compare-and-swap). */
  private track(s: Session, dir: number, flags: number): void {
    for (;;) {
      const word = s.stateWord;
      const before = s.state;
      const closedBefore = s.closedBy;
      let state = before;
      let closedBy = closedBefore;
      if (flags & TCP_RST) {
        state = CLOSED;
        if (closedBy === CLOSED_BY_NONE) closedBy = dir === 0 ? CLOSED_BY_CLIENT : CLOSED_BY_TARGET;
      } else if (flags & TCP_FIN) {
        if (closedBy === CLOSED_BY_NONE) {
          closedBy = dir === 0 ? CLOSED_BY_CLIENT : CLOSED_BY_TARGET;
          state = dir === 0 ? FIN_WAIT : CLOSE_WAIT;
        } else if ((closedBy === CLOSED_BY_CLIENT) !== (dir === 0) && state < TIME_WAIT) {
          state = TIME_WAIT;
        }
      } else if (state === SYN_SENT && dir === 1 && (flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) {
        state = SYN_RECV;
      } else if (state === SYN_RECV && dir === 0 && (flags & (TCP_SYN | TCP_ACK)) === TCP_ACK) {
        state = ESTABLISHED;
      }
      if (state === before && closedBy === closedBefore) return;
      if (!s.transition(word, state, closedBy)) continue;
      if (state !== before) this.sessions.updated(s);
      return;
    }
  }

  /** Removes sessions idle past their state's timeout. Returns how many went. */
  collect(now: number): number {
    this.sessions.foldNative();
    const timeouts = this.timeouts;
    const expired = this.sessions.select(
      (s) => now - s.lastSeen > (s.state === UDP_ACTIVE ? s.rule.admission.rule.udpIdleTimeoutMs : timeouts[s.state]!),
    );
    for (const id of expired) {
      const s = this.sessions.session(id)!;
      // An ended TCP session closed by whoever ended it; anything else (UDP flows included) idled out.
      const ended = s.state === TIME_WAIT || s.state === CLOSED;
      const reason = ended ? (s.closedBy === CLOSED_BY_TARGET ? 'target' : 'client') : 'idle';
      this.sessions.deleteWithCompanions(String(id), reason);
    }
    return expired.length;
  }

  /** Closes the sessions of rules whose changed filter now refuses their client (see filterReevaluations). */
  /** Sessions of rules whose filters changed (REEVALUATE) that the new filters refuse. */
  filterRefusals(plan: Plan): number[] {
    const changed = filterReevaluations(plan);
    if (changed.size === 0) return [];
    return this.sessions.select((s) => {
      if (!changed.has(s.rule.ruleId)) return false;
      const client = this.sessionClientBytes(s);
      return client !== undefined && !s.rule.admission.filter.admitsBytes(client);
    });
  }

  /** Sessions that came in through the given listener keys (plan.ts listenerKey). */
  sessionsOf(listenerKeys: ReadonlySet<string>): number[] {
    return this.sessions.select((s) => listenerKeys.has(`${s.protocol}|${s.rule.rule.listenAddress}|${s.keys[9]! & 0xffff}`));
  }

  /** Ends the sessions `ids` that still run; a filter refusal counts as a refused attempt. */
  endSessions(ids: number[], reason: 'terminate' | 'filter' | 'drain'): number {
    let ended = 0;
    for (const id of ids) {
      const s = this.sessions.session(id);
      if (!s) continue;
      if (reason === 'filter') this.refuse('filter', s.counters, this.sessionClientBytes(s)!);
      if (this.sessions.deleteWithCompanions(String(id), reason)) ended++;
    }
    return ended;
  }

  private sessionClientBytes(s: Session): Uint8Array | undefined {
    return parseIp(this.sessions.info(s).client.address)?.bytes;
  }

  // --- Telemetry ---

  /** Packets dropped by reason: the engine's, the port's and the native loop's. */
  packetDrops(): Partial<Record<PacketDropReason, number>> {
    const packetDrops: Partial<Record<PacketDropReason, number>> = {};
    this.packetDropCounts.forEach((n, code) => {
      const reason = DROP_REASONS[code];
      if (reason && n > 0) packetDrops[reason] = (packetDrops[reason] ?? 0) + n;
    });
    for (const [reason, n] of Object.entries(this.portDrops()) as [PacketDropReason, number][]) {
      if (n > 0) packetDrops[reason] = (packetDrops[reason] ?? 0) + n;
    }
    return packetDrops;
  }

  global(): TrafficCounters {
    this.sessions.foldNative();
    return { ...structuredClone(this.globalCounters), packetDrops: this.packetDrops() };
  }

  rules(): RuleCounters[] {
    this.sessions.foldNative();
    return [...this.countersById.values()].map((c) => structuredClone(c));
  }

  generation(): number {
    return this.configGeneration;
  }

  flood(topSources: number): RuleFloodCounters[] {
    return [...this.countersById.values()].map((c) => ruleFloodCounters(c, this.floodsById.get(c.counterId)!, topSources));
  }

  // --- Trace ---

  /** The decision path of a synthetic packet. Reads only: no session, counter or token changes. */
  trace(request: TraceRequest, now: number): TraceResult {
    const src = parseIp(request.source.address);
    const dst = parseIp(request.destination.address);
    if (!src || !dst || src.family !== dst.family) throw new Error('trace: source and destination must be IP addresses of one family');
    const f = request.tcpFlags;
    const flags = (f.syn ? TCP_SYN : 0) | (f.ack ? TCP_ACK : 0) | (f.fin ? TCP_FIN : 0) | (f.rst ? TCP_RST : 0);
    const packet = buildPacket({
      family: src.family,
      protocol: request.protocol,
      source: src.bytes,
      destination: dst.bytes,
      sourcePort: request.source.port,
      destinationPort: request.destination.port,
      tcpFlags: flags,
    });
    const view = new PacketView();
    const key = new Uint32Array(KEY_WORDS);
    parsePacket(packet, packet.length, view, key);
    const result = initialTraceResult(this.configGeneration, NAME);
    const steps = result.steps;
    const routes = this.routes;
    const value = this.sessions.flows.find(key, 0);
    const hit = value >= 0 ? this.sessions.slots[value >>> 1] : undefined;
    const reopens = hit && hit.state >= TIME_WAIT && (value & 1) === 0 && (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    if (hit && !reopens) {
      const dir = value & 1;
      const info = this.sessions.info(hit);
      result.session = { lookup: 'hit', id: info.id };
      result.match = { table: hit.rule.table, ruleId: hit.rule.ruleId, ruleName: hit.rule.ruleName, counterId: hit.rule.counterId };
      const reason = 'decided on the session\'s first packet';
      result.filter = { verdict: 'allow', detail: reason };
      result.limit = { verdict: 'allow', detail: reason };
      result.nat = dir === 0 ? { source: info.upstreamLocal, destination: info.target } : { source: info.listener, destination: info.client };
      result.verdict = 'forward';
      steps.push(`session ${info.id} hit (${dir === 0 ? 'forward' : 'reverse'} entry, state ${info.state}, generation ${hit.generation})`);
      steps.push(`rewrite to ${result.nat.source?.address}:${result.nat.source?.port} -> ${result.nat.destination.address}:${result.nat.destination.port}`);
      return result;
    }
    steps.push(hit ? `session ${hit.id} has ended (${STATE_NAMES[hit.state]}): a SYN opens a new one` : 'session miss');
    const rule = routes.lookup(request.protocol, dst, request.destination.port);
    if (rule) {
      result.match = { table: rule.table, ruleId: rule.ruleId, ruleName: rule.ruleName, counterId: rule.counterId };
      steps.push(`rule ${rule.table}/${rule.ruleName || rule.ruleId} matches ${request.protocol} ${request.destination.address} port ${request.destination.port}`);
    }
    if (request.protocol === 'tcp' && (flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) !== TCP_SYN) {
      result.dropReason = 'no_session';
      steps.push('drop: a TCP packet without a session must be a SYN (no ACK, FIN or RST)');
      return result;
    }
    if (this.draining) {
      result.dropReason = 'no_rule';
      steps.push('drop: the backend is shutting down and refuses new flows');
      return result;
    }
    if (this.standby) {
      result.dropReason = 'ha_standby';
      steps.push('drop: this node is the HA standby; it refuses new flows until it becomes active');
      return result;
    }
    if (!rule) {
      result.dropReason = 'no_rule';
      steps.push(`drop: no rule for ${request.protocol} ${request.destination.address} port ${request.destination.port}`);
      return result;
    }
    if (rule.target.family !== dst.family) {
      result.dropReason = 'address_family';
      steps.push(`drop: target ${rule.rule.targetAddress} is not IPv${dst.family}`);
      return result;
    }
    if (!traceAdmission(result, rule.admission, src.bytes, request.protocol === 'udp', now)) return result;
    const targetPort = mapTargetPort(rule.rule, request.destination.port);
    const destination = { address: ipText(rule.target), port: targetPort };
    const source = rule.snat ? { address: ipText(rule.snat), port: 0 } : { address: ipText(src), port: request.source.port };
    result.nat = { source, destination };
    result.verdict = 'forward';
    steps.push(`dnat to ${destination.address}:${destination.port}`);
    steps.push(rule.snat ? `snat to ${source.address}, port allocated from the pool (0 here)` : 'source kept: the target sees the client');
    steps.push(`new ${request.protocol} session (${request.protocol === 'tcp' ? STATE_NAMES[SYN_SENT] : STATE_NAMES[UDP_ACTIVE]})`);
    return result;
  }
}

