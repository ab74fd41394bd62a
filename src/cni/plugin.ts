/**
 * portplane-portmap, a chained CNI plugin: ADD publishes a container's
 * `runtimeConfig.portMappings` as the portplane table named after the
 * network and container (replacing it whole, so a repeated ADD is
 * idempotent) and passes the previous result on; DEL removes that table and
 * succeeds when there is none; CHECK fails unless the table runs exactly
 * these mappings with every rule active; VERSION lists the spec versions.
 */
import type { DaemonClient } from './daemon-client.js';
import { CNI_ERRORS, CNI_VERSION, CniError, DEFAULT_SOCKET, DEFAULT_TIMEOUT_MS, parseNetConf, SUPPORTED_VERSIONS, type NetConf } from './spec.js';
import type { ForwardRule__Output } from '../generated/types/portplane/v1/ForwardRule.js';
import { tableName, tableRules, type WireRule } from './table.js';

export interface PluginIo {
  env: NodeJS.ProcessEnv;
  stdin: string;
  /** Opens the client for a daemon socket. */
  connect(socket: string, timeoutMs: number): DaemonClient;
}

/** What to print on stdout on success ('' for nothing). */
export async function runPlugin(io: PluginIo): Promise<string> {
  const command = io.env.CNI_COMMAND;
  if (command === 'VERSION') return JSON.stringify({ cniVersion: CNI_VERSION, supportedVersions: SUPPORTED_VERSIONS });
  if (command !== 'ADD' && command !== 'DEL' && command !== 'CHECK') {
    throw new CniError(CNI_ERRORS.invalidEnvironment, `CNI_COMMAND ${JSON.stringify(command ?? '')} is not one of ADD, DEL, CHECK, VERSION`);
  }
  const containerId = io.env.CNI_CONTAINERID;
  if (!containerId) throw new CniError(CNI_ERRORS.invalidEnvironment, 'CNI_CONTAINERID is not set');
  const conf = parseNetConf(io.stdin);
  const name = tableName(conf.name, containerId);
  const client = io.connect(conf.socket ?? DEFAULT_SOCKET, conf.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  try {
    if (command === 'ADD') return await add(client, conf, name);
    if (command === 'DEL') {
      await client.removeTable(name);
      return '';
    }
    await check(client, conf, name);
    return '';
  } finally {
    client.close();
  }
}

function mappingsOf(conf: NetConf): WireRule[] {
  return tableRules(conf.runtimeConfig?.portMappings ?? [], conf.prevResult);
}

async function add(client: DaemonClient, conf: NetConf, name: string): Promise<string> {
  if (!conf.prevResult) throw new CniError(CNI_ERRORS.invalidConfig, 'portplane-portmap is a chained plugin: it needs prevResult from the plugin before it');
  const rules = mappingsOf(conf);
  // No mappings: nothing to publish, and no empty table left behind.
  if (rules.length === 0) await client.removeTable(name);
  else await client.putTable(name, rules);
  return JSON.stringify({ ...conf.prevResult, cniVersion: conf.cniVersion });
}

function same(running: ForwardRule__Output, wanted: WireRule): boolean {
  return (
    running.protocol === wanted.protocol &&
    running.listen_address === wanted.listen_address &&
    running.ports?.first === wanted.ports.first &&
    (running.ports.last === wanted.ports.last || running.ports.last === 0) &&
    running.target_address === wanted.target_address &&
    running.target_port === wanted.target_port
  );
}

async function check(client: DaemonClient, conf: NetConf, name: string): Promise<void> {
  if (!conf.prevResult) throw new CniError(CNI_ERRORS.invalidConfig, 'CHECK needs prevResult');
  const wanted = mappingsOf(conf);
  const table = await client.getTable(name);
  if (!table) {
    if (wanted.length === 0) return;
    throw new CniError(CNI_ERRORS.notInEffect, `portplane table ${name} does not exist`);
  }
  const problems: string[] = [];
  for (const rule of wanted) {
    const running = table.rules.find((r) => r.name === rule.name);
    if (!running) problems.push(`${rule.name}: missing`);
    else if (!same(running, rule)) problems.push(`${rule.name}: forwards to ${running.target_address}:${running.target_port}, not ${rule.target_address}:${rule.target_port}`);
    else {
      const status = table.statuses.find((s) => s.name === rule.name);
      if (status && status.state !== 'RULE_STATE_ACTIVE') problems.push(`${rule.name}: ${status.state}`);
    }
  }
  for (const r of table.rules) if (!wanted.some((w) => w.name === r.name)) problems.push(`${r.name}: not in the port mappings`);
  if (problems.length > 0) throw new CniError(CNI_ERRORS.notInEffect, `portplane table ${name} is not in effect as mapped`, problems.join('; '));
}
