/**
 * The compiled form of a configuration that answers "which rule owns this
 * (protocol, destination address, port)": per protocol an array indexed by
 * port, then per address kind a constant-time probe. Backends compile one
 * per apply and swap it in with a single reference assignment, so a lookup
 * always sees one whole generation. Valid configurations never overlap, so
 * at most one rule matches.
 */
import { ipv4Key, ipv6Key, parseIp, type IpAddress } from '../config/ip.js';
import type { ForwardingConfig, ForwardRule, Protocol } from '../config/model.js';
import { portIntervals } from '../config/ports.js';
import { ruleId } from '../plan/identity.js';
import { RuleAdmission } from './admission.js';

export interface CompiledRule {
  table: string;
  ruleId: string;
  ruleName: string;
  counterId: number;
  rule: ForwardRule;
  target: IpAddress;
  snat: IpAddress | undefined;
  /** Filter, limits and session counts of the rule id, kept across applies (see admission.ts). */
  admission: RuleAdmission;
}

interface PortSlot {
  dual?: CompiledRule;
  any4?: CompiledRule;
  any6?: CompiledRule;
  v4?: Map<number, CompiledRule>;
  v6?: Map<string, CompiledRule>;
}

const PORTS = 65_536;

export interface CompileOptions {
  counterIds: Record<string, number>;
  /** The table this one replaces: each rule id keeps its admission (updated to the new rule). */
  previous?: RouteTable;
  /** The clock admissions are asked with (milliseconds); default performance.now(). */
  now?: number;
}

function carriedAdmission(prior: CompiledRule | undefined, rule: ForwardRule, now: number): RuleAdmission {
  if (!prior) return new RuleAdmission(rule, now);
  prior.admission.update(rule, now);
  return prior.admission;
}

export class RouteTable {
  static readonly EMPTY = new RouteTable(new Map());

  private constructor(
    private readonly byProtocol: Map<Protocol, (PortSlot | undefined)[]>,
    /** Every compiled rule by rule id. */
    readonly rules: ReadonlyMap<string, CompiledRule> = new Map(),
  ) {}

  static compile(config: ForwardingConfig, options: CompileOptions): RouteTable {
    const byProtocol = new Map<Protocol, (PortSlot | undefined)[]>();
    const rules = new Map<string, CompiledRule>();
    // Configurations repeat a handful of addresses across thousands of rules.
    const addresses = new Map<string, IpAddress | undefined>();
    const ip = (text: string): IpAddress | undefined => {
      if (!addresses.has(text)) addresses.set(text, parseIp(text));
      return addresses.get(text);
    };
    for (const table of config.tables) {
      for (const rule of table.rules) {
        const id = ruleId(table.name, rule);
        // The control layer assigns every rule a counter id; 0 stands for "none given".
        const counterId = options.counterIds[id] ?? 0;
        const target = ip(rule.targetAddress);
        if (!target) throw new Error(`rule ${id}: target ${rule.targetAddress} is not an IP address`);
        const compiled: CompiledRule = {
          table: table.name,
          ruleId: id,
          ruleName: rule.name,
          counterId,
          rule,
          target,
          snat: rule.snatAddress === '' ? undefined : ip(rule.snatAddress),
          admission: carriedAdmission(options.previous?.rules.get(id), rule, options.now ?? performance.now()),
        };
        rules.set(id, compiled);
        let slots = byProtocol.get(rule.protocol);
        if (!slots) {
          slots = new Array<PortSlot | undefined>(PORTS);
          byProtocol.set(rule.protocol, slots);
        }
        const listen = rule.listenAddress === '' ? undefined : ip(rule.listenAddress);
        if (rule.listenAddress !== '' && !listen) throw new Error(`rule ${id}: listen ${rule.listenAddress} is not an IP address`);
        const isAny = listen !== undefined && listen.bytes.every((b) => b === 0);
        for (const range of portIntervals(rule)) {
          for (let port = range.first; port <= range.last; port++) {
            const slot = (slots[port] ??= {});
            if (!listen) slot.dual = compiled;
            else if (isAny) slot[listen.family === 4 ? 'any4' : 'any6'] = compiled;
            else if (listen.family === 4) (slot.v4 ??= new Map()).set(ipv4Key(listen.bytes), compiled);
            else (slot.v6 ??= new Map()).set(ipv6Key(listen.bytes), compiled);
          }
        }
      }
    }
    return new RouteTable(byProtocol, rules);
  }

  /** The rule owning IPv4 destination `addressKey` (see ipv4Key) and `port`. */
  lookupV4(protocol: Protocol, addressKey: number, port: number): CompiledRule | undefined {
    const slot = this.byProtocol.get(protocol)?.[port];
    if (!slot) return undefined;
    return slot.v4?.get(addressKey) ?? slot.any4 ?? slot.dual;
  }

  /** The rule owning IPv6 destination `addressKey` (see ipv6Key) and `port`. */
  lookupV6(protocol: Protocol, addressKey: string, port: number): CompiledRule | undefined {
    const slot = this.byProtocol.get(protocol)?.[port];
    if (!slot) return undefined;
    return slot.v6?.get(addressKey) ?? slot.any6 ?? slot.dual;
  }

  lookup(protocol: Protocol, destination: IpAddress, port: number): CompiledRule | undefined {
    return destination.family === 4
      ? this.lookupV4(protocol, ipv4Key(destination.bytes), port)
      : this.lookupV6(protocol, ipv6Key(destination.bytes), port);
  }
}
