// Original file: proto/portplane/v1/ha_service.proto

export const HARole = {
  HA_ROLE_UNSPECIFIED: 'HA_ROLE_UNSPECIFIED',
  HA_ROLE_ACTIVE: 'HA_ROLE_ACTIVE',
  HA_ROLE_STANDBY: 'HA_ROLE_STANDBY',
} as const;

export type HARole =
  | 'HA_ROLE_UNSPECIFIED'
  | 0
  | 'HA_ROLE_ACTIVE'
  | 1
  | 'HA_ROLE_STANDBY'
  | 2

export type HARole__Output = typeof HARole[keyof typeof HARole]
