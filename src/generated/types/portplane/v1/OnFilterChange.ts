// Original file: proto/portplane/v1/config.proto

export const OnFilterChange = {
  ON_FILTER_CHANGE_UNSPECIFIED: 'ON_FILTER_CHANGE_UNSPECIFIED',
  ON_FILTER_CHANGE_REEVALUATE: 'ON_FILTER_CHANGE_REEVALUATE',
  ON_FILTER_CHANGE_KEEP: 'ON_FILTER_CHANGE_KEEP',
} as const;

export type OnFilterChange =
  | 'ON_FILTER_CHANGE_UNSPECIFIED'
  | 0
  | 'ON_FILTER_CHANGE_REEVALUATE'
  | 1
  | 'ON_FILTER_CHANGE_KEEP'
  | 2

export type OnFilterChange__Output = typeof OnFilterChange[keyof typeof OnFilterChange]
