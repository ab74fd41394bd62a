/**
 * How batches reach the kernel: libnftables in-process (native/nftables)
 * or, where the addon cannot load, the `nft` tool over a pipe. Both take the
 * same text batch; everything in one run() is one netlink transaction, so it
 * takes effect whole or not at all. The addon is the default because it
 * costs ~0.2 ms per small batch against ~20-35 ms to spawn `nft` on a loaded
 * host (docs/benchmarks.md, "nftables backend"), which is the whole budget
 * of a one-rule apply.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NftRunner {
  /** 'addon' or 'cli'. */
  readonly kind: string;
  /** Runs `commands` (nft syntax, one batch); throws NftError when the kernel or the parser refuses it. */
  run(commands: string): void;
  /** Runs one list command and returns its JSON output parsed. */
  query(command: string): NftJson;
  /**
   * The namespace's ruleset generation id (bumped by one per committed
   * transaction, whoever commits), or undefined where this transport cannot
   * read it (the `nft` tool prints it only in `nft monitor`).
   */
  generation(): number | undefined;
  /**
   * Generation ids of the transactions that touched `inet <table>` since the
   * last call (nftables events, as `nft monitor` reads them), whoever made
   * them; `lost` when the kernel dropped events. Undefined where this
   * transport cannot subscribe (the `nft` tool).
   */
  changes(table: string): { generations: number[]; lost: boolean } | undefined;
  /**
   * Sends hand-built nf_tables messages (netlink-batch.ts) naming `inet
   * <table>` as one batch the kernel takes only at ruleset generation
   * `generation`; absent where this transport cannot (the `nft` tool).
   */
  batch?(table: string, messages: Buffer, generation: number): BatchOutcome;
}

/** What the kernel answered to a batch of hand-built messages (native/nftables `batch`). */
export interface BatchOutcome {
  /** Committed: every message acknowledged, none refused. */
  ok: boolean;
  /** Nothing refused but acknowledgements lost: whether it committed is unknown. */
  uncertain: boolean;
  /** The first refusal's errno (0: none); `restart`: the generation had moved (ERESTART), nothing else was wrong. */
  errno: number;
  restart: boolean;
  /** Which message was refused (-1: the batch itself), and the kernel's words. */
  index: number;
  message: string;
}

/** Largest batch of hand-built messages the addon takes (native/nftables MAX_BATCH_BYTES). */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;

/** NFPROTO_INET: the family of portplane's table. */
const NFPROTO_INET = 1;

export interface NftJson {
  nftables: Record<string, unknown>[];
}

export class NftError extends Error {
  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(`${message}: ${detail.trim().split('\n').slice(0, 6).join(' | ')}`);
  }
}

interface Addon {
  open(netnsPath: string | null): object;
  run(context: object, commands: string): { ok: boolean; output: string; error: string };
  generation(context: object): number;
  changes(context: object, family: number, table: string): { generations: number[]; lost: boolean };
  batch(context: object, table: string, messages: Buffer, generation: number): BatchOutcome;
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let addon: { module: Addon } | { reason: string } | undefined;

function loadAddon(): { module: Addon } | { reason: string } {
  if (addon) return addon;
  // PORTPLANE_NATIVE_BUILD=Debug: the sanitized build (scripts/test-native-sanitized.sh).
  const path = join(repoRoot, 'native', 'nftables', 'build', process.env.PORTPLANE_NATIVE_BUILD ?? 'Release', 'nftables.node');
  try {
    addon = { module: createRequire(import.meta.url)(path) as Addon };
  } catch (err) {
    addon = { reason: `native addon ${path} not loadable: ${(err as Error).message.split('\n')[0]}` };
  }
  return addon;
}

function parseJson(output: string, command: string): NftJson {
  try {
    return JSON.parse(output) as NftJson;
  } catch (err) {
    throw new NftError(`nft ${command}: unreadable JSON`, (err as Error).message);
  }
}

class AddonRunner implements NftRunner {
  readonly kind = 'addon';
  private readonly context: object;

  constructor(
    private readonly module: Addon,
    netns: string | undefined,
  ) {
    this.context = module.open(netns ? `/run/netns/${netns}` : null);
  }

  run(commands: string): void {
    const r = this.module.run(this.context, commands);
    if (!r.ok) throw new NftError('nft batch refused', r.error);
  }

  query(command: string): NftJson {
    const r = this.module.run(this.context, command);
    if (!r.ok) throw new NftError(`nft ${command}`, r.error);
    return parseJson(r.output, command);
  }

  generation(): number {
    return this.module.generation(this.context);
  }

  changes(table: string): { generations: number[]; lost: boolean } {
    return this.module.changes(this.context, NFPROTO_INET, table);
  }

  batch(table: string, messages: Buffer, generation: number): BatchOutcome {
    return this.module.batch(this.context, table, messages, generation);
  }
}

/** Spawns `nft` per call (prefixed with `ip netns exec` for a namespace). */
export class CliRunner implements NftRunner {
  readonly kind = 'cli';

  constructor(private readonly netns: string | undefined) {}

  private nft(args: string[], input?: string): string {
    const [cmd, ...pre] = this.netns ? ['ip', 'netns', 'exec', this.netns, 'nft'] : ['nft'];
    const r = spawnSync(cmd as string, [...pre, ...args], { input, encoding: 'utf8', timeout: 60_000, maxBuffer: 256 * 1024 * 1024 });
    if (r.error) throw new NftError(`nft ${args.join(' ')}`, r.error.message);
    if (r.status !== 0) throw new NftError(`nft ${args.join(' ')} exited with ${r.status}`, r.stderr);
    return r.stdout;
  }

  run(commands: string): void {
    this.nft(['-f', '-'], commands);
  }

  query(command: string): NftJson {
    return parseJson(this.nft(['-j', ...command.split(' ')]), command);
  }

  generation(): undefined {
    return undefined;
  }

  changes(): undefined {
    return undefined;
  }
}

/** The addon when it loads (unless `prefer` is 'cli'), else the tool. */
export function createNftRunner(netns: string | undefined, prefer: 'addon' | 'cli' = 'addon'): NftRunner {
  const loaded = prefer === 'addon' ? loadAddon() : undefined;
  return loaded && 'module' in loaded ? new AddonRunner(loaded.module, netns) : new CliRunner(netns);
}

/** Why the in-process transport is not used, if it is not. */
export function addonUnavailableReason(): string | undefined {
  const loaded = loadAddon();
  return 'reason' in loaded ? loaded.reason : undefined;
}
