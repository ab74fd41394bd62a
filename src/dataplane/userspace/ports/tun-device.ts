/**
 * The optional native addon in native/tun (built by `npm ci`): it opens a
 * TUN device and reads it on the event loop. Where it cannot load, or
 * /dev/net/tun cannot be opened, the userspace backend reports the
 * `tun_port` capability unsupported with the reason from here.
 */
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TunAddon {
  /** Attaches to (or creates) the TUN interface `name`; its descriptor is non-blocking and close-on-exec. */
  open(name: string): { fd: number; name: string };
  /** Calls `onPacket(length)` with each packet read into `buffer`; a negative length is -errno of a failed read, after which reading has stopped. */
  startReader(fd: number, buffer: Buffer, onPacket: (length: number) => void): object;
  /** No callback after this returns. Call once per handle. */
  stopReader(handle: object): void;
}

export type TunSupport = { available: true; addon: TunAddon } | { available: false; reason: string };

export const TUN_DEVICE = '/dev/net/tun';

let cached: TunSupport | undefined;

/** Loaded once. src/ and dist/ are both four levels below the repository root, where native/ is. */
export function tunSupport(): TunSupport {
  if (cached) return cached;
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'native', 'tun', 'build', process.env.PORTPLANE_NATIVE_BUILD ?? 'Release', 'tun.node');
  let addon: TunAddon;
  try {
    addon = createRequire(import.meta.url)(path) as TunAddon;
  } catch (err) {
    cached = { available: false, reason: `the TUN addon ${path} is not loadable (built by npm ci; needs a C compiler): ${(err as Error).message.split('\n')[0]}` };
    return cached;
  }
  try {
    accessSync(TUN_DEVICE, constants.R_OK | constants.W_OK);
    cached = { available: true, addon };
  } catch (err) {
    cached = { available: false, reason: `${TUN_DEVICE} is not usable by this process (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); creating a TUN device also needs CAP_NET_ADMIN` };
  }
  return cached;
}
