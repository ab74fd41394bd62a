// Original file: proto/portplane/v1/config_service.proto

import type { Table as _portplane_v1_Table, Table__Output as _portplane_v1_Table__Output } from '../../portplane/v1/Table.js';
import type { PendingApply as _portplane_v1_PendingApply, PendingApply__Output as _portplane_v1_PendingApply__Output } from '../../portplane/v1/PendingApply.js';
import type { DivergedPort as _portplane_v1_DivergedPort, DivergedPort__Output as _portplane_v1_DivergedPort__Output } from '../../portplane/v1/DivergedPort.js';
import type { Long } from '@grpc/proto-loader';

export interface GetConfigResponse {
  'generation'?: (number | string | Long);
  'tables'?: (_portplane_v1_Table)[];
  'config_digest'?: (string);
  'pending'?: (_portplane_v1_PendingApply | null);
  'diverged'?: (_portplane_v1_DivergedPort)[];
  'next_page_token'?: (string);
}

export interface GetConfigResponse__Output {
  'generation': (string);
  'tables': (_portplane_v1_Table__Output)[];
  'config_digest': (string);
  'pending': (_portplane_v1_PendingApply__Output | null);
  'diverged': (_portplane_v1_DivergedPort__Output)[];
  'next_page_token': (string);
}
