/**
 * The userspace engine below the neutral contracts: companions (forward
 * entry, reverse entry, NAT binding) appear and go together, TCP states and
 * their timeouts, UDP idle expiry, IPv6, NAT pool exhaustion, drop reasons,
 * and the atomic swap of applies. Real packets through a memory port, a
 * driven clock.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_UDP_IDLE_TIMEOUT_MS, defaultRuleOptions, type ForwardRule } from '../../src/config/model.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { ruleId } from '../../src/plan/identity.js';
import { MemoryPort, UserspaceDataPlane } from '../../src/dataplane/userspace/index.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../src/dataplane/userspace/packet.js';
import { DEFAULT_TIMEOUTS } from '../../src/dataplane/userspace/session.js';
import type { ForwardingConfig } from '../../src/config/model.js';
import { fields, packet, type PacketFields } from '../helpers/packets.js';

function rule(over: Partial<ForwardRule> = {}): ForwardRule {
  return {
    name: 'r',
    protocol: 'tcp',
    listenAddress: '10.0.0.1',
    interface: '',
    ports: { first: 80, last: 80 },
    exclude: [],
    targetAddress: '10.0.0.2',
    targetPort: 8080,
    weak: false,
    ...defaultRuleOptions(),
    ...over,
  };
}

interface Rig {
  dp: UserspaceDataPlane;
  now: { t: number };
  send(p: Uint8Array): PacketFields | undefined;
  apply(...rules: ForwardRule[]): Promise<void>;
}

async function rig(options: { snatPorts?: { first: number; last: number } } = {}): Promise<Rig> {
  const port = new MemoryPort();
  const now = { t: 1_000_000 };
  const dp = new UserspaceDataPlane({ port, clock: () => now.t, gcIntervalMs: 0, snatPorts: options.snatPorts });
  await dp.start();
  let running: ForwardingConfig = { tables: [] };
  let generation = 0;
  return {
    dp,
    now,
    send(p) {
      let out: Uint8Array | undefined;
      port.onTransmit = (buf, length) => (out = buf.slice(0, length));
      port.inject(p);
      return out && fields(out);
    },
    async apply(...rules) {
      const config = normalizeConfig({ tables: [{ name: 't', rules }] });
      const counterIds = Object.fromEntries(config.tables[0]!.rules.map((r, i) => [ruleId('t', r), i + 1]));
      await dp.applyConfig({ generation: ++generation, config, plan: computePlan(running, config, generation - 1), counterIds });
      running = config;
    },
  };
}

const tcp = (source: string, sport: number, destination: string, dport: number, flags: number, payload?: Uint8Array) =>
  packet({ protocol: 'tcp', source, destination, sourcePort: sport, destinationPort: dport, tcpFlags: flags, payload });

describe('userspace engine', () => {
  let r: Rig;
  beforeEach(async () => {
    r = await rig({ snatPorts: { first: 61000, last: 61001 } });
  });

  it('DNATs the first packet, translates replies back, and the target sees the client address', async () => {
    await r.apply(rule());
    const out = r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_SYN));
    expect(out).toMatchObject({ source: '192.0.2.7', sourcePort: 5000, destination: '10.0.0.2', destinationPort: 8080, checksumsOk: true });
    const back = r.send(tcp('10.0.0.2', 8080, '192.0.2.7', 5000, TCP_SYN | TCP_ACK));
    expect(back).toMatchObject({ source: '10.0.0.1', sourcePort: 80, destination: '192.0.2.7', destinationPort: 5000, checksumsOk: true });
  });

  it('creates forward entry, reverse entry and NAT binding together, and deleteWithCompanions removes all three', async () => {
    await r.apply(rule({ snatAddress: '10.0.0.3' }));
    const out = r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_SYN));
    expect(out).toMatchObject({ source: '10.0.0.3', sourcePort: 61000, destination: '10.0.0.2' });
    const engine = r.dp.engine;
    expect(engine.sessions.flows.size).toBe(2);
    const [s] = [...r.dp.sessions().iterate()];
    expect(s).toMatchObject({ upstreamLocal: { address: '10.0.0.3', port: 61000 }, client: { address: '192.0.2.7', port: 5000 } });
    expect(r.dp.sessions().deleteWithCompanions(s!.id, 'deleted')).toBe(true);
    expect(engine.sessions.flows.size).toBe(0);
    // The binding went back to the pool: the next session gets a port, and no stale reverse entry answers.
    expect(r.send(tcp('10.0.0.2', 8080, '10.0.0.3', 61000, TCP_SYN | TCP_ACK))).toBeUndefined();
    expect(r.send(tcp('192.0.2.8', 5000, '10.0.0.1', 80, TCP_SYN))?.sourcePort).toBe(61001);
    expect(r.send(tcp('192.0.2.9', 5000, '10.0.0.1', 80, TCP_SYN))?.sourcePort).toBe(61000);
  });

  it('a session reopened in a freed slot leaves the closed one\'s pending deltas with the closed one\'s addresses', async () => {
    await r.apply(rule());
    r.dp.sessionDeltas().drain(0);
    r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_SYN));
    const [first] = [...r.dp.sessions().iterate()];
    expect(r.dp.sessions().deleteWithCompanions(first!.id, 'deleted')).toBe(true);
    // The new session takes the freed slot (and its keys) before the consumer drains.
    r.send(tcp('192.0.2.8', 6000, '10.0.0.1', 80, TCP_SYN));
    const deltas = r.dp.sessionDeltas().drain(100).deltas;
    expect(deltas.map((d) => [d.kind, d.session.client.address, d.session.client.port])).toEqual([
      ['open', '192.0.2.7', 5000],
      ['close', '192.0.2.7', 5000],
      ['open', '192.0.2.8', 6000],
    ]);
    // The first session's entries are gone, the second's answer.
    expect(r.send(tcp('10.0.0.2', 8080, '192.0.2.7', 5000, TCP_SYN | TCP_ACK))).toBeUndefined();
    expect(r.send(tcp('10.0.0.2', 8080, '192.0.2.8', 6000, TCP_SYN | TCP_ACK))).toMatchObject({ destination: '192.0.2.8', destinationPort: 6000 });
  });

  it('refuses a session when the SNAT pool is exhausted, and counts it', async () => {
    await r.apply(rule({ snatAddress: '10.0.0.3' }));
    expect(r.send(tcp('192.0.2.1', 1, '10.0.0.1', 80, TCP_SYN))).toBeDefined();
    expect(r.send(tcp('192.0.2.2', 1, '10.0.0.1', 80, TCP_SYN))).toBeDefined();
    expect(r.send(tcp('192.0.2.3', 1, '10.0.0.1', 80, TCP_SYN))).toBeUndefined();
    expect(r.dp.telemetry().global().packetDrops).toMatchObject({ nat_exhausted: 1 });
    expect(r.dp.engine.sessions.flows.size).toBe(4);
  });

  it('tracks TCP through its states, and GC removes a session once its state times out', async () => {
    await r.apply(rule());
    // Deltas are recorded once a consumer has drained.
    r.dp.sessionDeltas().drain(0);
    const state = (): string | undefined => [...r.dp.sessions().iterate()][0]?.state;
    r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_SYN));
    expect(state()).toBe('syn_sent');
    r.send(tcp('10.0.0.2', 8080, '192.0.2.7', 5000, TCP_SYN | TCP_ACK));
    expect(state()).toBe('syn_recv');
    r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_ACK));
    expect(state()).toBe('established');
    r.now.t += DEFAULT_TIMEOUTS.timeWait + 1;
    expect(r.dp.collect()).toBe(0);
    r.send(tcp('10.0.0.2', 8080, '192.0.2.7', 5000, TCP_FIN | TCP_ACK));
    expect(state()).toBe('close_wait');
    r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_FIN | TCP_ACK));
    expect(state()).toBe('time_wait');
    r.now.t += DEFAULT_TIMEOUTS.timeWait - 1;
    expect(r.dp.collect()).toBe(0);
    r.now.t += 2;
    expect(r.dp.collect()).toBe(1);
    expect(r.dp.sessions().count()).toBe(0);
    const closes = r.dp.sessionDeltas().drain(100).deltas.filter((d) => d.kind === 'close');
    // The target closed first.
    expect(closes.map((d) => d.reason)).toEqual(['target']);
  });

  it('a RST closes at once (short timeout); a new SYN on an ended tuple opens a new session', async () => {
    await r.apply(rule());
    r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_SYN));
    r.send(tcp('10.0.0.2', 8080, '192.0.2.7', 5000, TCP_RST | TCP_ACK));
    const [s] = [...r.dp.sessions().iterate()];
    expect(s?.state).toBe('closed');
    expect(r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_SYN))).toBeDefined();
    const [s2] = [...r.dp.sessions().iterate()];
    expect(Number(s2!.id)).toBeGreaterThan(Number(s!.id));
    expect(s2!.state).toBe('syn_sent');
    r.now.t += DEFAULT_TIMEOUTS.synSent + 1;
    expect(r.dp.collect()).toBe(1);
  });

  it('UDP: the first datagram opens a flow, replies come back, idle flows expire', async () => {
    await r.apply(rule({ protocol: 'udp', listenAddress: '', targetAddress: '2001:db8::2' }));
    const out = r.send(packet({ protocol: 'udp', source: '2001:db8::7', destination: '2001:db8::1', sourcePort: 5353, destinationPort: 80, payload: new Uint8Array([1, 2]) }));
    expect(out).toMatchObject({ source: '2001:db8::7', destination: '2001:db8::2', destinationPort: 8080, payload: [1, 2], checksumsOk: true });
    const back = r.send(packet({ protocol: 'udp', source: '2001:db8::2', destination: '2001:db8::7', sourcePort: 8080, destinationPort: 5353, payload: new Uint8Array([3]) }));
    expect(back).toMatchObject({ source: '2001:db8::1', sourcePort: 80, destination: '2001:db8::7', payload: [3], checksumsOk: true });
    expect([...r.dp.sessions().iterate()][0]?.state).toBe('active');
    // An IPv4 client of the dual-stack rule cannot reach an IPv6 target.
    expect(r.send(packet({ protocol: 'udp', source: '192.0.2.1', destination: '10.9.9.9', sourcePort: 1, destinationPort: 80 }))).toBeUndefined();
    r.now.t += DEFAULT_UDP_IDLE_TIMEOUT_MS + 1;
    expect(r.dp.collect()).toBe(1);
    expect(r.dp.telemetry().global().packetDrops).toMatchObject({ address_family: 1 });
  });

  it("UDP flows expire after their rule's udp_idle_timeout_ms; max_udp_flows caps them", async () => {
    await r.apply(rule({ protocol: 'udp', udpIdleTimeoutMs: 1000, limits: { ...defaultRuleOptions().limits, maxUdpFlows: 1 } }));
    const datagram = (sourcePort: number) => packet({ protocol: 'udp', source: '192.0.2.7', destination: '10.0.0.1', sourcePort, destinationPort: 80, payload: new Uint8Array([1]) });
    expect(r.send(datagram(5000))).toBeDefined();
    expect(r.send(datagram(5001))).toBeUndefined();
    expect(r.dp.telemetry().global().drops).toEqual({ cap: 1 });
    r.now.t += 999;
    expect(r.dp.collect()).toBe(0);
    r.now.t += 2;
    expect(r.dp.collect()).toBe(1);
    expect(r.send(datagram(5001))).toBeDefined();
  });

  it('counts what it drops by reason, and never throws on garbage', async () => {
    await r.apply(rule());
    r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_ACK)); // no session, not a SYN
    r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 81, TCP_SYN)); // no rule
    r.send(new Uint8Array([0x45, 0, 0]));
    const icmp = tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_SYN);
    icmp[9] = 1;
    r.send(icmp);
    expect(r.dp.telemetry().global().packetDrops).toEqual({ no_session: 1, no_rule: 1, truncated: 1, unsupported_protocol: 1 });
  });

  it('an apply swaps routing at once: established flows keep their target, new flows take the new one', async () => {
    await r.apply(rule());
    r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_SYN));
    await r.apply(rule({ targetAddress: '10.0.0.5' }));
    expect(r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_ACK))?.destination).toBe('10.0.0.2');
    expect(r.send(tcp('192.0.2.8', 5000, '10.0.0.1', 80, TCP_SYN))?.destination).toBe('10.0.0.5');
    const gens = [...r.dp.sessions().iterate()].map((s) => s.generation);
    expect(gens).toEqual([1, 2]);
  });

  it('close(grace) refuses new flows at once and closes what is left when the grace is over', async () => {
    await r.apply(rule());
    r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_SYN));
    const closing = r.dp.close(200);
    expect(r.send(tcp('192.0.2.8', 5000, '10.0.0.1', 80, TCP_SYN))).toBeUndefined();
    expect(r.send(tcp('192.0.2.7', 5000, '10.0.0.1', 80, TCP_ACK))).toBeDefined();
    await closing;
    expect(r.dp.sessions().count()).toBe(0);
  });
});
