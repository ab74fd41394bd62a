#!/usr/bin/env node
/**
 * The `portplane-portmap` executable a container runtime runs (CNI_COMMAND
 * and friends in the environment, the network configuration on stdin): the
 * result or nothing on stdout and exit 0, or a CNI error object on stdout
 * and exit 1. It never waits on the daemon longer than the configured
 * deadline.
 */
import { DaemonClient } from './daemon-client.js';
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
    const needsConfig = process.env.CNI_COMMAND !== 'VERSION';
    const output = await runPlugin({
      env: process.env,
      stdin: needsConfig ? await readStdin() : '',
      connect: (socket, timeoutMs) => new DaemonClient(socket, timeoutMs),
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
