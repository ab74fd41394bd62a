/**
 * HAController: what a backend does when its node changes HA role. The
 * session sync itself (src/ha) works through SessionDeltaSource; this is
 * only the part that changes how the backend treats traffic and sessions.
 */

export const HA_ROLES = ['active', 'standby'] as const;

export type HARole = (typeof HA_ROLES)[number];

export interface HAController {
  /**
   * standby: new flows are refused (packet drop "ha_standby") and no session
   * idles out, since the active decides when its sessions end and says so in
   * the sync stream; sessions imported from the active are forwarded if
   * their packets arrive. active: new flows are admitted and idle expiry
   * resumes, counting every session as active at the moment of takeover, so
   * a quiet imported flow gets its whole idle timeout to send again.
   */
  setRole(role: HARole): void;
}
