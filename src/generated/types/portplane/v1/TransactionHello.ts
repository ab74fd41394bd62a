// Original file: proto/portplane/v1/transaction.proto

import type { Limits as _portplane_v1_Limits, Limits__Output as _portplane_v1_Limits__Output } from '../../portplane/v1/Limits.js';
import type { Capabilities as _portplane_v1_Capabilities, Capabilities__Output as _portplane_v1_Capabilities__Output } from '../../portplane/v1/Capabilities.js';
import type { Table as _portplane_v1_Table, Table__Output as _portplane_v1_Table__Output } from '../../portplane/v1/Table.js';
import type { Long } from '@grpc/proto-loader';

export interface TransactionHello {
  'protocol_version'?: (number);
  'api_version'?: (string);
  'features'?: (string)[];
  'limits'?: (_portplane_v1_Limits | null);
  'capabilities'?: (_portplane_v1_Capabilities | null);
  'generation'?: (number | string | Long);
  'tables'?: (_portplane_v1_Table)[];
  'config_digest'?: (string);
}

export interface TransactionHello__Output {
  'protocol_version': (number);
  'api_version': (string);
  'features': (string)[];
  'limits': (_portplane_v1_Limits__Output | null);
  'capabilities': (_portplane_v1_Capabilities__Output | null);
  'generation': (string);
  'tables': (_portplane_v1_Table__Output)[];
  'config_digest': (string);
}
