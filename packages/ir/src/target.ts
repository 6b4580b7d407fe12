/**
 * Deployment targets ↔ specificationVersion ↔ opset strings (mlpackage-format.md §12).
 * ML Programs start at iOS15 (spec 6, `CoreML5`).
 */

export const TARGETS = ['iOS15', 'iOS16', 'iOS17', 'iOS18', 'iOS26'] as const;
export type Target = (typeof TARGETS)[number];

interface TargetInfo {
  readonly spec: number;
  readonly opset: string;
  readonly aliases: readonly string[];
}

const INFO: Readonly<Record<Target, TargetInfo>> = {
  iOS15: { spec: 6, opset: 'CoreML5', aliases: ['macOS12', 'watchOS8', 'tvOS15'] },
  iOS16: { spec: 7, opset: 'CoreML6', aliases: ['macOS13', 'watchOS9', 'tvOS16'] },
  iOS17: { spec: 8, opset: 'CoreML7', aliases: ['macOS14', 'watchOS10', 'tvOS17'] },
  iOS18: { spec: 9, opset: 'CoreML8', aliases: ['macOS15', 'watchOS11', 'tvOS18'] },
  iOS26: { spec: 10, opset: 'CoreML9', aliases: ['macOS26', 'watchOS26', 'tvOS26', 'visionOS26'] },
};

export function specVersionOf(t: Target): number {
  return INFO[t].spec;
}

export function opsetOf(t: Target): string {
  return INFO[t].opset;
}

/** Target for a specificationVersion; undefined when below 6 (no ML Programs) or above 10. */
export function targetFromSpec(spec: number): Target | undefined {
  return TARGETS.find((t) => INFO[t].spec === spec);
}

export function targetFromOpset(opset: string): Target | undefined {
  return TARGETS.find((t) => INFO[t].opset === opset);
}

/** Parses `iOS18`, `macOS15`, `ios18`… into a Target. */
export function parseTarget(name: string): Target {
  for (const t of TARGETS) {
    if (t.toLowerCase() === name.toLowerCase()) return t;
    if (INFO[t].aliases.some((a) => a.toLowerCase() === name.toLowerCase())) return t;
  }
  throw new Error(`unknown deployment target "${name}" (expected one of ${TARGETS.join(', ')} or an alias such as macOS15)`);
}

export function compareTargets(a: Target, b: Target): number {
  return INFO[a].spec - INFO[b].spec;
}

export function targetAtLeast(t: Target, min: Target): boolean {
  return compareTargets(t, min) >= 0;
}

export function maxTarget(a: Target, b: Target): Target {
  return compareTargets(a, b) >= 0 ? a : b;
}

/**
 * The op-signature generation a target uses (mil-ops.md §0.1): targets above iOS18 reuse
 * the iOS18 signatures.
 */
export type OpsetVersion = 'iOS15' | 'iOS16' | 'iOS17' | 'iOS18';
export function opsetVersionOf(t: Target): OpsetVersion {
  return t === 'iOS26' ? 'iOS18' : t;
}
