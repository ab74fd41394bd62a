// Original file: proto/portplane/v1/trace_service.proto

import type { TraceVerdict as _portplane_v1_TraceVerdict, TraceVerdict__Output as _portplane_v1_TraceVerdict__Output } from '../../portplane/v1/TraceVerdict.js';
import type { TraceMatch as _portplane_v1_TraceMatch, TraceMatch__Output as _portplane_v1_TraceMatch__Output } from '../../portplane/v1/TraceMatch.js';
import type { FilterVerdict as _portplane_v1_FilterVerdict, FilterVerdict__Output as _portplane_v1_FilterVerdict__Output } from '../../portplane/v1/FilterVerdict.js';
import type { LimitVerdict as _portplane_v1_LimitVerdict, LimitVerdict__Output as _portplane_v1_LimitVerdict__Output } from '../../portplane/v1/LimitVerdict.js';
import type { TraceNat as _portplane_v1_TraceNat, TraceNat__Output as _portplane_v1_TraceNat__Output } from '../../portplane/v1/TraceNat.js';
import type { SessionLookup as _portplane_v1_SessionLookup, SessionLookup__Output as _portplane_v1_SessionLookup__Output } from '../../portplane/v1/SessionLookup.js';
import type { Long } from '@grpc/proto-loader';

export interface TraceResponse {
  'generation'?: (number | string | Long);
  'backend'?: (string);
  'verdict'?: (_portplane_v1_TraceVerdict);
  'drop_reason'?: (string);
  'match'?: (_portplane_v1_TraceMatch | null);
  'filter'?: (_portplane_v1_FilterVerdict);
  'filter_detail'?: (string);
  'limit'?: (_portplane_v1_LimitVerdict);
  'limit_detail'?: (string);
  'nat'?: (_portplane_v1_TraceNat | null);
  'session'?: (_portplane_v1_SessionLookup);
  'session_id'?: (string);
  'steps'?: (string)[];
}

export interface TraceResponse__Output {
  'generation': (string);
  'backend': (string);
  'verdict': (_portplane_v1_TraceVerdict__Output);
  'drop_reason': (string);
  'match': (_portplane_v1_TraceMatch__Output | null);
  'filter': (_portplane_v1_FilterVerdict__Output);
  'filter_detail': (string);
  'limit': (_portplane_v1_LimitVerdict__Output);
  'limit_detail': (string);
  'nat': (_portplane_v1_TraceNat__Output | null);
  'session': (_portplane_v1_SessionLookup__Output);
  'session_id': (string);
  'steps': (string)[];
}
