/**
 * Roles, from least to most privileged. A grant of one role includes every
 * role below it.
 */
export const ROLES = ['reader', 'operator', 'admin'] as const;

export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Whether a grant of `held` is enough for something that needs `needed`. */
export function roleCovers(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}
