/**
 * Model-form rules (as validation, normalisation and planning see them) for
 * unit tests that build configurations without a daemon.
 */
import { defaultRuleOptions, type ForwardRule } from '../../src/config/model.js';

/** A rule forwarding `first`-`last` on `listenAddress` to the loopback of the same family, from `targetPort` on. */
export function loopbackRule(
  name: string,
  listenAddress: string,
  first: number,
  last: number,
  targetPort: number,
  protocol: 'tcp' | 'udp' = 'tcp',
): ForwardRule {
  return {
    name,
    protocol,
    listenAddress,
    interface: '',
    ports: { first, last },
    exclude: [],
    targetAddress: listenAddress.includes(':') ? '::1' : '127.0.0.1',
    targetPort,
    weak: false,
    ...defaultRuleOptions(),
  };
}
