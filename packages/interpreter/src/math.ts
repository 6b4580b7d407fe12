/** Scalar math the JS runtime lacks: erf (for gelu EXACT), round-half-to-even. */

const SQRT_PI = 1.772453850905516;

/**
 * erf(x) in double precision (≤ 1 ulp against CPython's math.erf over [-7, 7]): a
 * power series for |x| < 1.5 and a continued fraction for erfc above, the scheme of
 * CPython's `m_erf`.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const a = Math.abs(x);
  if (a < 1.5) {
    const x2 = x * x;
    let acc = 0;
    let fk = 25.5;
    for (let i = 0; i < 25; i++) {
      acc = 2 + (x2 * acc) / fk;
      fk -= 1;
    }
    return (acc * x * Math.exp(-x2)) / SQRT_PI;
  }
  if (a >= 30) return x > 0 ? 1 : -1;
  const x2 = a * a;
  let p = 1;
  let pLast = 0;
  let q = 0.5 + x2;
  let qLast = 1;
  let an = 0;
  let da = 0.5;
  for (let i = 0; i < 50; i++) {
    an += da;
    da += 2;
    const b = da + x2;
    let t = p;
    p = b * p - an * pLast;
    pLast = t;
    t = q;
    q = b * q - an * qLast;
    qLast = t;
  }
  const erfc = ((p / q) * a * Math.exp(-x2)) / SQRT_PI;
  return x > 0 ? 1 - erfc : erfc - 1;
}

/** NumPy's `round`: to nearest, ties to even. */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const f = Math.floor(x);
  const d = x - f;
  const r = d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
  // keep the sign of zero, as NumPy does (round(-0.4) = -0)
  return r === 0 && (x < 0 || Object.is(x, -0)) ? -0 : r;
}
