/**
 * Fault injection: make a route answer with an error status, answer late, or drop the connection,
 * for its first N calls or during a time window, to test what clients do when a paid service fails.
 */
import { z } from 'zod';

export const ROUTES = ['openai.transcriptions', 'mistral.transcriptions', 'mistral.chat'] as const;
export const RouteName = z.enum(ROUTES);
export type RouteName = z.infer<typeof RouteName>;

const Latency = z.union([
  z.number().nonnegative(),
  z.tuple([z.number().nonnegative(), z.number().nonnegative()]).refine(([a, b]) => a <= b, 'latency range must be [min, max]'),
]);

export const FaultRule = z
  .object({
    /** Route the rule applies to, or "*" for every route of the server. */
    route: z.union([RouteName, z.literal('*')]),
    /** Answer with this status instead of the real answer (429, 500, 502, 503..., or a 3xx with redirectTo). */
    status: z.number().int().min(300).max(599).optional(),
    /** With a 3xx status: the Location the client is sent to (a client that follows it leaves this server). */
    redirectTo: z.url().optional(),
    /** Retry-After header in seconds, sent with the status. */
    retryAfterSec: z.number().int().nonnegative().optional(),
    /** Delay before answering: fixed milliseconds, or a [min, max] range drawn uniformly. */
    latencyMs: Latency.optional(),
    /** Destroy the socket while the request is being received: the client sees a reset connection. */
    drop: z.boolean().optional(),
    /**
     * Hold the answer (after the request body is received) until the test releases it
     * (`ReplayServer.releaseHeld()` or POST /__replay/release): orders an answer after an event
     * deterministically, where a latency would only make it likely.
     */
    hold: z.boolean().optional(),
    /** Apply to the next N matching calls only. */
    times: z.number().int().positive().optional(),
    /** Apply only during this many milliseconds from when the rule is set. */
    forMs: z.number().positive().optional(),
  })
  .strict()
  .refine((r) => r.status !== undefined || r.latencyMs !== undefined || r.drop === true || r.hold === true, 'a fault needs status, latencyMs, drop or hold')
  .refine((r) => !(r.hold === true && r.drop === true), 'a fault cannot both hold the answer and drop the connection')
  .refine((r) => !(r.status !== undefined && r.drop === true), 'a fault cannot both answer with a status and drop the connection')
  .refine((r) => r.retryAfterSec === undefined || r.status !== undefined, 'retryAfterSec needs a status')
  .refine((r) => (r.status !== undefined && r.status < 400) === (r.redirectTo !== undefined), 'a 3xx status needs redirectTo, and redirectTo a 3xx status');
export type FaultRule = z.infer<typeof FaultRule>;
export type FaultRuleInput = z.input<typeof FaultRule>;

/** Accepts a rule, a list of rules, or {faults: [...]} (the admin endpoint's body); zod errors name the bad field. */
export function parseFaultRules(input: unknown): FaultRule[] {
  if (Array.isArray(input)) return z.array(FaultRule).parse(input);
  if (input && typeof input === 'object' && 'faults' in input) return z.object({ faults: z.array(FaultRule) }).strict().parse(input).faults;
  return [FaultRule.parse(input)];
}

export type FaultAction =
  | { kind: 'none'; latencyMs: number; hold: boolean }
  | { kind: 'status'; latencyMs: number; hold: boolean; status: number; retryAfterSec?: number; location?: string }
  | { kind: 'drop'; latencyMs: number; hold: false };

interface ActiveRule {
  rule: FaultRule;
  remaining: number;
  until: number;
}

export interface FaultView extends FaultRule {
  /** Calls left for a `times` rule. */
  remaining?: number;
  /** Milliseconds left for a `forMs` rule. */
  remainingMs?: number;
}

export class FaultInjector {
  #rules: ActiveRule[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Parses and adds rules; throws a zod error naming the bad field. */
  add(rules: unknown): void {
    for (const rule of parseFaultRules(rules)) {
      this.#rules.push({
        rule,
        remaining: rule.times ?? Number.POSITIVE_INFINITY,
        until: rule.forMs !== undefined ? this.now() + rule.forMs : Number.POSITIVE_INFINITY,
      });
    }
  }

  set(rules: unknown): void {
    const parsed = parseFaultRules(rules);
    this.clear();
    this.add(parsed);
  }

  clear(): void {
    this.#rules = [];
  }

  list(): FaultView[] {
    this.#expire();
    const t = this.now();
    return this.#rules.map(({ rule, remaining, until }) => ({
      ...rule,
      ...(Number.isFinite(remaining) ? { remaining } : {}),
      ...(Number.isFinite(until) ? { remainingMs: until - t } : {}),
    }));
  }

  /**
   * What to do with one call of `route`. Latencies of all active rules add up; the first active
   * status or drop rule decides the outcome; any active hold rule holds it. A rule counts a call
   * only when it acts on it.
   */
  decide(route: RouteName): FaultAction {
    this.#expire();
    let latencyMs = 0;
    let hold = false;
    let outcome: FaultAction | null = null;
    for (const active of this.#rules) {
      const { rule } = active;
      if (rule.route !== '*' && rule.route !== route) continue;
      const decisive = rule.status !== undefined || rule.drop === true;
      if (decisive && outcome) continue; // an earlier rule already decided; leave this one's budget
      active.remaining--;
      if (rule.latencyMs !== undefined) latencyMs += drawLatency(rule.latencyMs);
      if (rule.hold) hold = true;
      if (rule.drop) outcome = { kind: 'drop', latencyMs: 0, hold: false };
      else if (rule.status !== undefined) {
        outcome = {
          kind: 'status',
          latencyMs: 0,
          hold: false,
          status: rule.status,
          ...(rule.retryAfterSec !== undefined ? { retryAfterSec: rule.retryAfterSec } : {}),
          ...(rule.redirectTo !== undefined ? { location: rule.redirectTo } : {}),
        };
      }
    }
    this.#expire();
    if (outcome?.kind === 'drop') return { ...outcome, latencyMs };
    return outcome ? { ...outcome, latencyMs, hold } : { kind: 'none', latencyMs, hold };
  }

  #expire(): void {
    const t = this.now();
    this.#rules = this.#rules.filter((r) => r.remaining > 0 && r.until > t);
  }
}

function drawLatency(l: number | [number, number]): number {
  return typeof l === 'number' ? l : l[0] + Math.random() * (l[1] - l[0]);
}
