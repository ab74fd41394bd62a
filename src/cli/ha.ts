/**
 * `portplane ha role [active|standby]` and `portplane ha status`: what
 * keepalived's notify scripts and an operator use (docs/ha.md).
 */
import { Argument, type Command } from 'commander';
import type { PortplaneClient } from '../client/client.js';
import type { GetRoleResponse__Output } from '../generated/types/portplane/v1/GetRoleResponse.js';

/** GetRole as the client decodes it (generated from proto/). */
type WireRole = GetRoleResponse__Output;

const short = (wire: string, prefix: string): string => wire.replace(prefix, '').toLowerCase();

function formatRole(r: WireRole): string {
  const lines = [`role: ${short(r.role, 'HA_ROLE_')} since ${r.since ? new Date(Number(r.since.seconds) * 1000).toISOString() : '?'} (${r.role_changes} changes)`];
  if (!r.session_sync_supported) lines.push(`session sync: unsupported (${r.unsupported_reason})`);
  const s = r.sync;
  if (s) {
    lines.push(`sync: ${short(s.state, 'SYNC_STATE_')}${s.detail ? ` (${s.detail})` : ''}${s.peer ? `, peer ${s.peer}` : ''}`);
    lines.push(`  lag ${s.lag_events} events / ${s.lag_millis} ms, applied sequence ${s.applied_sequence}, bulk syncs ${s.bulk_syncs}, resent ${s.resent_events}`);
    lines.push(`  sessions imported ${s.sessions_imported}, rejected ${s.sessions_rejected}, late heartbeats ${s.late_heartbeats}, reconnects ${s.reconnects}`);
  }
  return lines.join('\n');
}

export function registerHaCommands(program: Command, withClient: (action: (client: PortplaneClient) => Promise<void>) => Promise<void>): void {
  const ha = program.command('ha').description('high availability: this node\'s role and session sync (docs/ha.md)');
  ha.command('role')
    .description('print this node\'s role, or set it (keepalived notify scripts: `ha role active` on MASTER, `ha role standby` on BACKUP/FAULT)')
    .addArgument(new Argument('[role]', 'the role to take').choices(['active', 'standby']))
    .option('--reason <text>', 'why, for the log and audit line', '')
    .action((role: string | undefined, opts: { reason: string }) =>
      withClient(async (client) => {
        if (role === undefined) {
          console.log(formatRole(await client.getRole()));
          return;
        }
        const res = await client.setRole(role as 'active' | 'standby', opts.reason || `portplane ha role ${role}`);
        console.log(`role ${short(res.role, 'HA_ROLE_')} (was ${short(res.previous, 'HA_ROLE_')})`);
      }),
    );
  ha.command('status')
    .description('role and session sync status (--json for the raw response)')
    .option('--json', 'print the GetRole response as JSON')
    .action((opts: { json?: boolean }) =>
      withClient(async (client) => {
        const res = await client.getRole();
        console.log(opts.json ? JSON.stringify(res, null, 2) : formatRole(res));
      }),
    );
}
