/**
 * Limits of the control plane itself, per caller (next to the forwarding
 * limits of config/model.ts Limits, which bound what a configuration holds).
 * GetCapabilities advertises both.
 */
export interface ControlLimits {
  /** Largest request message, in bytes. */
  maxMessageBytes: number;
  /** Calls (gRPC streams) one caller may have open at once. */
  maxStreamsPerCaller: number;
  /** Sustained applies per second per caller (token bucket refill). */
  applyRatePerSecond: number;
  /** Applies a caller may make in a burst (token bucket size). */
  applyBurst: number;
}

export const DEFAULT_CONTROL_LIMITS: Readonly<ControlLimits> = Object.freeze({
  maxMessageBytes: 16 * 1024 * 1024,
  maxStreamsPerCaller: 64,
  // Generous for a controller replaying many tables, tight enough that a runaway loop cannot monopolise the apply queue.
  applyRatePerSecond: 50,
  applyBurst: 500,
});
