/** Independent reference formulas and comparisons for the scheduler tests (never the code under test). */
import assert from 'node:assert/strict';

export function refLinearBetas(start: number, end: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => start + (i * (end - start)) / (n - 1));
}

export function refScaledLinearBetas(start: number, end: number, n: number): number[] {
  const a = Math.sqrt(start);
  const b = Math.sqrt(end);
  return Array.from({ length: n }, (_, i) => (a + (i * (b - a)) / (n - 1)) ** 2);
}

/** ᾱ_t = Π_{s<=t}(1 − β_s), by direct product. */
export function refAlphaBar(betas: number[], t: number): number {
  let p = 1;
  for (let s = 0; s <= t; s++) p *= 1 - betas[s];
  return p;
}

export function close(actual: number, expected: number, tol: number, msg = ''): void {
  assert.ok(
    Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)),
    `${msg} expected ${expected}, got ${actual} (tol ${tol})`,
  );
}

export function arraysClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, msg = ''): void {
  assert.equal(actual.length, expected.length, `${msg} length`);
  for (let i = 0; i < expected.length; i++) close(actual[i], expected[i], tol, `${msg}[${i}]`);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Deterministic test data: a sine pattern in [-0.9, 0.9]. */
export function makeX0(n: number, phase = 0): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => 0.9 * Math.sin(0.37 * i + phase));
}
