// Original file: proto/portplane/v1/config.proto

export const PortAction = {
  PORT_ACTION_UNSPECIFIED: 'PORT_ACTION_UNSPECIFIED',
  PORT_ACTION_KEEP: 'PORT_ACTION_KEEP',
  PORT_ACTION_OPEN: 'PORT_ACTION_OPEN',
  PORT_ACTION_CLOSE: 'PORT_ACTION_CLOSE',
  PORT_ACTION_RETARGET: 'PORT_ACTION_RETARGET',
} as const;

export type PortAction =
  | 'PORT_ACTION_UNSPECIFIED'
  | 0
  | 'PORT_ACTION_KEEP'
  | 1
  | 'PORT_ACTION_OPEN'
  | 2
  | 'PORT_ACTION_CLOSE'
  | 3
  | 'PORT_ACTION_RETARGET'
  | 4

export type PortAction__Output = typeof PortAction[keyof typeof PortAction]
