#!/usr/bin/env node
/**
 * The `portplane-portmap` executable a container runtime runs (CNI_COMMAND
 * and friends in the environment, the network configuration on stdin): the
 * result or nothing on stdout and exit 0, or a CNI error object on stdout
 * and exit 1. It never waits on the daemon longer than the configured
 * deadline.
 */
import type { DaemonClient } from './daemon-client.js';
import { runPlugin } from './plugin.js';
import { CNI_ERRORS, CniError } from './spec.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<number> {
  try {
    const version = process.env.CNI_COMMAND === 'VERSION';
    // The gRPC client (and what it loads) only when the daemon is needed: VERSION answers at once.
    const Client: (new (socket: string, timeoutMs: number) => DaemonClient) | undefined = version
      ? undefined
      : (await import('./daemon-client.js')).DaemonClient;
    const output = await runPlugin({
      env: process.env,
      stdin: version ? '' : await readStdin(),
      connect: (socket, timeoutMs) => {
        if (!Client) throw new CniError(CNI_ERRORS.invalidEnvironment, 'VERSION does not talk to the daemon');
        return new Client(socket, timeoutMs);
      },
    });
    if (output) process.stdout.write(`${output}\n`);
    return 0;
  } catch (err) {
    const cniError = err instanceof CniError ? err : new CniError(CNI_ERRORS.ioFailure, (err as Error).message);
    process.stdout.write(`${JSON.stringify(cniError)}\n`);
    return 1;
  }
}

// Exit once stdout is written: an open gRPC channel must not keep the runtime waiting.
main().then((code) => process.stdout.write('', () => process.exit(code)));
