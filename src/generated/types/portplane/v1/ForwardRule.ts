// Original file: proto/portplane/v1/config.proto

import type { Protocol as _portplane_v1_Protocol, Protocol__Output as _portplane_v1_Protocol__Output } from '../../portplane/v1/Protocol.js';
import type { PortRange as _portplane_v1_PortRange, PortRange__Output as _portplane_v1_PortRange__Output } from '../../portplane/v1/PortRange.js';
import type { OnFilterChange as _portplane_v1_OnFilterChange, OnFilterChange__Output as _portplane_v1_OnFilterChange__Output } from '../../portplane/v1/OnFilterChange.js';
import type { ProxyProtocol as _portplane_v1_ProxyProtocol, ProxyProtocol__Output as _portplane_v1_ProxyProtocol__Output } from '../../portplane/v1/ProxyProtocol.js';
import type { RuleLimits as _portplane_v1_RuleLimits, RuleLimits__Output as _portplane_v1_RuleLimits__Output } from '../../portplane/v1/RuleLimits.js';
import type { DrainPolicy as _portplane_v1_DrainPolicy, DrainPolicy__Output as _portplane_v1_DrainPolicy__Output } from '../../portplane/v1/DrainPolicy.js';

export interface ForwardRule {
  'name'?: (string);
  'protocol'?: (_portplane_v1_Protocol);
  'listen_address'?: (string);
  'interface'?: (string);
  'ports'?: (_portplane_v1_PortRange | null);
  'exclude'?: (_portplane_v1_PortRange)[];
  'target_address'?: (string);
  'target_port'?: (number);
  'weak'?: (boolean);
  'allow'?: (string)[];
  'deny'?: (string)[];
  'on_filter_change'?: (_portplane_v1_OnFilterChange);
  'proxy_protocol'?: (_portplane_v1_ProxyProtocol);
  'limits'?: (_portplane_v1_RuleLimits | null);
  'udp_idle_timeout_ms'?: (number);
  'connect_timeout_ms'?: (number);
  'drain'?: (_portplane_v1_DrainPolicy | null);
  'snat_address'?: (string);
}

export interface ForwardRule__Output {
  'name': (string);
  'protocol': (_portplane_v1_Protocol__Output);
  'listen_address': (string);
  'interface': (string);
  'ports': (_portplane_v1_PortRange__Output | null);
  'exclude': (_portplane_v1_PortRange__Output)[];
  'target_address': (string);
  'target_port': (number);
  'weak': (boolean);
  'allow': (string)[];
  'deny': (string)[];
  'on_filter_change': (_portplane_v1_OnFilterChange__Output);
  'proxy_protocol': (_portplane_v1_ProxyProtocol__Output);
  'limits': (_portplane_v1_RuleLimits__Output | null);
  'udp_idle_timeout_ms': (number);
  'connect_timeout_ms': (number);
  'drain': (_portplane_v1_DrainPolicy__Output | null);
  'snat_address': (string);
}
