/**
 * A Linux TUN interface as the engine's packet port: the kernel routes
 * packets for forwarded addresses (and, by policy routing, the targets'
 * replies) into the interface; the engine rewrites them and writes them back,
 * and the kernel routes them on. See docs/api.md "Userspace backend on a TUN
 * device" for the routes this needs.
 */
import { execFile } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import type { PacketPort, ReceiveHandler } from './packet-port.js';
import { tunSupport } from './tun-device.js';

const run = promisify(execFile);

/** The largest IP packet a TUN interface can carry (its MTU is at most 65535). */
const MAX_PACKET = 65_536;

export interface TunPortOptions {
  /** Interface name, e.g. "pp0"; an existing persistent TUN device (ip tuntap add) is attached to. */
  device: string;
  /** Addresses (CIDR) to assign before bringing the link up with iproute2; none: the operator configures the link. */
  addresses?: string[];
  /** A failed read (reading stops) or the first of a run of failed writes (all are counted). Default: none. */
  onError?: (err: Error) => void;
}

export class TunPort implements PacketPort {
  received = 0;
  transmitted = 0;
  transmitErrors = 0;
  private fd = -1;
  private device: string;
  private reader: object | undefined;
  private writeFailing = false;

  constructor(private readonly options: TunPortOptions) {
    this.device = options.device;
  }

  get name(): string {
    return `tun:${this.device}`;
  }

  async open(receive: ReceiveHandler): Promise<void> {
    const support = tunSupport();
    if (!support.available) throw new Error(`TUN port ${this.device}: ${support.reason}`);
    const { fd, name } = support.addon.open(this.options.device);
    this.fd = fd;
    this.device = name;
    try {
      await this.configureLink();
    } catch (err) {
      closeSync(fd);
      this.fd = -1;
      throw err;
    }
    const buffer = Buffer.allocUnsafe(MAX_PACKET);
    this.reader = support.addon.startReader(fd, buffer, (length) => {
      if (length < 0) {
        this.options.onError?.(new Error(`TUN port ${this.device}: read failed (errno ${-length}); no more packets are read`));
        return;
      }
      this.received++;
      receive(buffer, length);
    });
  }

  private async configureLink(): Promise<void> {
    const addresses = this.options.addresses ?? [];
    if (addresses.length === 0) return;
    try {
      for (const cidr of addresses) await run('ip', ['address', 'replace', cidr, 'dev', this.device]);
      await run('ip', ['link', 'set', 'dev', this.device, 'up']);
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new Error(`TUN port ${this.device}: configuring the link with ip (iproute2) failed: ${(e.stderr || e.message).trim()}`);
    }
  }

  /** One packet, written whole; a failure (e.g. EIO while the link is down) drops it. */
  transmit(packet: Uint8Array, length: number): void {
    try {
      writeSync(this.fd, packet, 0, length);
      this.transmitted++;
      this.writeFailing = false;
    } catch (err) {
      this.transmitErrors++;
      if (this.writeFailing) return;
      this.writeFailing = true;
      this.options.onError?.(new Error(`TUN port ${this.device}: write failed: ${(err as Error).message}`));
    }
  }

  async close(): Promise<void> {
    const addon = tunSupport();
    if (this.reader && addon.available) addon.addon.stopReader(this.reader);
    this.reader = undefined;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
