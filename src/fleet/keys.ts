/**
 * The fleet's key layout in etcd. Desired state is one key per table under
 * the node it is meant for; status is one key per node. Every node watches
 * only its own `nodes/<node>/` range, so a write for one node wakes no
 * other.
 *
 *   <prefix>/nodes/<node>/tables/<table>   the table, in the form `portplane apply` reads
 *   <prefix>/status/<node>                 the node's status (JSON, under the node's lease)
 */

export const DEFAULT_PREFIX = '/portplane';

/** Node and table names go into keys: no separators, nothing etcd tools would mangle. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function checkNodeName(node: string): string {
  if (!NAME.test(node)) throw new Error(`invalid node name ${JSON.stringify(node)}: use 1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit`);
  return node;
}

export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  if (!trimmed.startsWith('/')) throw new Error(`--etcd-prefix ${JSON.stringify(prefix)} must start with /`);
  return trimmed;
}

export class FleetKeys {
  readonly prefix: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    this.prefix = normalizePrefix(prefix);
  }

  /** Every desired table of `node` lies under this prefix. */
  nodeTables(node: string): string {
    return `${this.prefix}/nodes/${node}/tables/`;
  }

  /** Every node's desired tables. */
  allNodes(): string {
    return `${this.prefix}/nodes/`;
  }

  table(node: string, table: string): string {
    return `${this.nodeTables(node)}${table}`;
  }

  status(node: string): string {
    return `${this.statusPrefix()}${node}`;
  }

  statusPrefix(): string {
    return `${this.prefix}/status/`;
  }

  /** `{node, table}` of a desired-table key, or undefined for any other key. */
  parseTableKey(key: string): { node: string; table: string } | undefined {
    const rest = key.startsWith(this.allNodes()) ? key.slice(this.allNodes().length) : undefined;
    const match = rest === undefined ? null : /^([^/]+)\/tables\/([^/]+)$/.exec(rest);
    return match ? { node: match[1]!, table: match[2]! } : undefined;
  }
}
