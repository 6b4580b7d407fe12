/** Small helpers shared by the modules of this package. */

/** Lets timers, I/O and abort handlers run between long units of work. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Product of the dims of a shape (1 for a scalar). */
export function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `x` formatted with `digits` decimals, for messages and reports. */
export function fixed(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}
