// Original file: proto/portplane/v1/config_service.proto

import type { Table as _portplane_v1_Table, Table__Output as _portplane_v1_Table__Output } from '../../portplane/v1/Table.js';
import type { DrainPolicy as _portplane_v1_DrainPolicy, DrainPolicy__Output as _portplane_v1_DrainPolicy__Output } from '../../portplane/v1/DrainPolicy.js';
import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from '../../google/protobuf/Duration.js';
import type { Long } from '@grpc/proto-loader';

export interface ApplyConfigRequest {
  'tables'?: (_portplane_v1_Table)[];
  'replace_all'?: (boolean);
  'expected_generation'?: (number | string | Long);
  'validate_only'?: (boolean);
  'terminate_removed'?: (boolean);
  'drain'?: (_portplane_v1_DrainPolicy | null);
  'confirm_timeout'?: (_google_protobuf_Duration | null);
  'comment'?: (string);
  'delete_tables'?: (string)[];
  '_expected_generation'?: "expected_generation";
}

export interface ApplyConfigRequest__Output {
  'tables': (_portplane_v1_Table__Output)[];
  'replace_all': (boolean);
  'expected_generation'?: (string);
  'validate_only': (boolean);
  'terminate_removed': (boolean);
  'drain': (_portplane_v1_DrainPolicy__Output | null);
  'confirm_timeout': (_google_protobuf_Duration__Output | null);
  'comment': (string);
  'delete_tables': (string)[];
  '_expected_generation'?: "expected_generation";
}
