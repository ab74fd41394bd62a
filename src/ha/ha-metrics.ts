/**
 * HA on /metrics: the role, role changes and the session sync's lag,
 * resends, bulk syncs and imports, read from the HA node at scrape time.
 */
import { Gauge, type Registry } from 'prom-client';
import { HA_ROLES } from '../dataplane/ha-controller.js';
import { collectedCounter, collectedGauge } from '../telemetry/metrics.js';
import type { HANode } from './ha-node.js';
import { SYNC_STATES, type SyncStatus } from './sync-status.js';

export function registerHaMetrics(registry: Registry, node: HANode): void {
  const counter = (name: string, help: string, value: () => number): void => collectedCounter(registry, name, help, value);
  const gauge = (name: string, help: string, value: () => number): void => collectedGauge(registry, name, help, value);
  /** One status per scrape (a status is computed, not stored). */
  let status: SyncStatus | undefined;
  const sync = (): SyncStatus => (status ??= node.syncStatus());
  new Gauge({
    name: 'portplane_ha_role',
    help: 'HA role of this node: 1 for the role it has',
    labelNames: ['role'],
    registers: [registry],
    collect() {
      status = undefined;
      for (const role of HA_ROLES) this.set({ role }, node.role === role ? 1 : 0);
    },
  });
  new Gauge({
    name: 'portplane_ha_sync_state',
    help: 'State of the session sync: 1 for the state it is in',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const current = sync().state;
      for (const state of SYNC_STATES) this.set({ state }, current === state ? 1 : 0);
    },
  });
  counter('portplane_ha_role_changes_total', 'HA role changes since start', () => node.roleChanges);
  gauge('portplane_ha_sync_lag_events', 'Session events the standby has not applied yet', () => sync().lagEvents);
  gauge('portplane_ha_sync_lag_seconds', 'Age of the newest sync message the standby applied (standby) or of the newest acknowledgement (active)', () => sync().lagMillis / 1000);
  counter('portplane_ha_sync_resent_events_total', 'Session events sent again after a sync reconnect', () => sync().resentEvents);
  counter('portplane_ha_bulk_syncs_total', 'Whole session tables synced (after a connect, a RESYNC or a peer restart)', () => sync().bulkSyncs);
  counter('portplane_ha_sessions_imported_total', 'Sessions imported from the peer (standby)', () => sync().sessionsImported);
  counter('portplane_ha_sessions_rejected_total', 'Sessions from the peer that could not be imported (standby)', () => sync().sessionsRejected);
  counter('portplane_ha_sync_late_heartbeats_total', 'Sync heartbeats (standby) or acknowledgements (active) that arrived late', () => sync().lateHeartbeats);
  counter('portplane_ha_sync_reconnects_total', 'Sync streams lost and reopened (standby)', () => sync().reconnects);
}
