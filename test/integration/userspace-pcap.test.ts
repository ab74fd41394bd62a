/**
 * The pcap port end to end: tcpdump records real loopback traffic (a TCP
 * connection over IPv4, UDP datagrams over IPv6), the userspace backend
 * replays the capture through its rules, and tshark reads the output: every
 * client packet rewritten to its target, every checksum correct.
 * Needs root and tcpdump/tshark (.ci/run installs them); skips otherwise.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRuleOptions, type ForwardRule } from '../../src/config/model.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { PcapPort, UserspaceDataPlane } from '../../src/dataplane/userspace/index.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { ruleId } from '../../src/plan/identity.js';
import { freePort, roundTrip, startEchoServer } from '../helpers/tcp.js';

const missing = [
  process.getuid?.() === 0 ? undefined : 'capturing on loopback needs root',
  ...['tcpdump', 'tshark'].map((tool) => (spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0 ? undefined : `${tool} is not installed (apt-get install ${tool})`)),
].filter(Boolean);
if (missing.length > 0) console.info(`skipped userspace pcap tests: ${missing.join('; ')}`);

function rule(over: Partial<ForwardRule>): ForwardRule {
  return { name: '', protocol: 'tcp', listenAddress: '', interface: '', ports: { first: 1, last: 1 }, exclude: [], targetAddress: '', targetPort: 0, weak: false, ...defaultRuleOptions(), ...over };
}

/**
 * Records loopback packets matching `filter` while `traffic` runs; resolves
 * with the capture path. tcpdump says "listening" a moment before its filter
 * sees packets, and writes what it sees a moment later, so UDP probes to
 * `probePort` (which `filter` must match) go out before and after the
 * traffic until one reaches the file.
 */
async function record(dir: string, filter: string, probePort: number, traffic: () => Promise<void>): Promise<string> {
  const file = join(dir, 'in.pcap');
  // -Z root: Debian's tcpdump otherwise drops to user tcpdump, who cannot write into the private temp dir.
  const tcpdump = spawn('tcpdump', ['-i', 'lo', '--immediate-mode', '-U', '-n', '-Z', 'root', '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => tcpdump.once('exit', resolve));
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${stderr}`)), 20_000);
    tcpdump.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    tcpdump.once('exit', (code) => reject(new Error(`tcpdump exited with ${code}: ${stderr}`)));
  });
  const probe = createSocket('udp4');
  const probeUntilWritten = async (): Promise<void> => {
    const before = (await stat(file).catch(() => undefined))?.size ?? 0;
    for (let i = 0; i < 200; i++) {
      await new Promise<void>((r) => probe.send('probe', probePort, '127.0.0.1', () => r()));
      await new Promise((r) => setTimeout(r, 100));
      if (((await stat(file).catch(() => undefined))?.size ?? 0) > Math.max(before, 24)) return;
    }
    throw new Error('tcpdump wrote none of 200 probes');
  };
  try {
    await probeUntilWritten();
    await traffic();
    await probeUntilWritten();
  } finally {
    probe.close();
    tcpdump.kill('SIGINT');
    await exited;
  }
  return file;
}

describe.skipIf(missing.length > 0)('userspace backend: pcap port', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portplane-pcap-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rewrites a recorded TCP connection and UDP datagrams to their targets, with checksums tshark accepts', async () => {
    const echo = await startEchoServer('127.0.0.1');
    const udpPort = await freePort('::1');
    const probePort = await freePort();
    const input = await record(dir, `tcp port ${echo.port} or udp port ${udpPort} or udp port ${probePort}`, probePort, async () => {
      expect((await roundTrip(echo.port, 'hello')).toString()).toBe('hello');
      const udp = createSocket('udp6');
      for (const text of ['a', 'bb', 'ccc']) await new Promise<void>((r) => udp.send(text, udpPort, '::1', () => r()));
      udp.close();
    });
    await echo.close();

    const output = join(dir, 'out.pcap');
    const port = new PcapPort({ input, output });
    const dp = new UserspaceDataPlane({ port, gcIntervalMs: 0 });
    await dp.start();
    const config = normalizeConfig({
      tables: [
        {
          name: 'cap',
          rules: [
            rule({ name: 'tcp', listenAddress: '127.0.0.1', ports: { first: echo.port, last: echo.port }, targetAddress: '127.0.0.2', targetPort: 9000 }),
            rule({ name: 'udp', protocol: 'udp', listenAddress: '::1', ports: { first: udpPort, last: udpPort }, targetAddress: '2001:db8::2', targetPort: 9001 }),
          ],
        },
      ],
    });
    const counterIds = Object.fromEntries(config.tables[0]!.rules.map((r, i) => [ruleId('cap', r), i + 1]));
    await dp.applyConfig({ generation: 1, config, plan: computePlan({ tables: [] }, config, 0), counterIds });
    const replay = await port.replay();
    await dp.teardown();

    const tshark = spawnSync(
      'tshark',
      ['-r', output, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=,',
        '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ipv6.dst', '-e', 'tcp.dstport', '-e', 'udp.dstport', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'udp.checksum.status'],
      { encoding: 'utf8' },
    );
    expect(tshark.status, tshark.stderr).toBe(0);
    const lines = tshark.stdout.trim().split('\n').map((l) => l.split(','));
    expect(lines.length).toBe(replay.written);
    const tcpLines = lines.filter((l) => l[3] !== '');
    const udpLines = lines.filter((l) => l[4] !== '');
    // Every client packet of the connection (SYN, ACK, data, FIN, ...) went to the target; the server's own replies had no session.
    expect(tcpLines.length).toBeGreaterThanOrEqual(4);
    for (const [src, dst, , dport, , ipStatus, tcpStatus] of tcpLines) {
      expect([src, dst, dport, ipStatus, tcpStatus]).toEqual(['127.0.0.1', '127.0.0.2', '9000', '1', '1']);
    }
    expect(udpLines).toEqual(Array(3).fill(['', '', '2001:db8::2', '', '9001', '', '', '1']));
    expect(replay.read).toBeGreaterThan(replay.written);
    // Nothing else was lost: the server's replies had no session, the probes no rule.
    const drops = dp.telemetry().global().packetDrops!;
    expect(drops.no_rule).toBeGreaterThan(0);
    expect((drops.no_session ?? 0) + drops.no_rule!).toBe(replay.read - replay.notIp - replay.written);
  });
});
