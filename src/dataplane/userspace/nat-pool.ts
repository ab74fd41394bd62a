/**
 * Source ports of one SNAT address and protocol. A binding is a companion
 * of its session: taken when the session is created, released only by
 * SessionTable.deleteWithCompanions.
 */
export interface PortRange {
  first: number;
  last: number;
}

/** Above Linux's default ephemeral range (32768-60999), so bindings do not collide with the host's own connections. */
export const DEFAULT_SNAT_PORTS: Readonly<PortRange> = Object.freeze({ first: 61000, last: 65535 });

export class NatPool {
  private readonly inUse: Uint8Array;
  private next: number;
  private taken = 0;

  constructor(readonly range: PortRange) {
    this.inUse = new Uint8Array(range.last - range.first + 1);
    this.next = 0;
  }

  get available(): number {
    return this.inUse.length - this.taken;
  }

  /** A free port, or -1 when the pool is exhausted. Round robin, so a released port is reused last. */
  allocate(): number {
    const n = this.inUse.length;
    if (this.taken === n) return -1;
    for (let tries = 0; tries < n; tries++) {
      const i = this.next;
      this.next = i + 1 === n ? 0 : i + 1;
      if (this.inUse[i] === 0) {
        this.inUse[i] = 1;
        this.taken++;
        return this.range.first + i;
      }
    }
    return -1;
  }

  /** Takes a specific port (an imported binding); false if it is outside the pool or taken. */
  reserve(port: number): boolean {
    const i = port - this.range.first;
    if (i < 0 || i >= this.inUse.length || this.inUse[i] === 1) return false;
    this.inUse[i] = 1;
    this.taken++;
    return true;
  }

  release(port: number): void {
    const i = port - this.range.first;
    if (i >= 0 && i < this.inUse.length && this.inUse[i] === 1) {
      this.inUse[i] = 0;
      this.taken--;
    }
  }
}
