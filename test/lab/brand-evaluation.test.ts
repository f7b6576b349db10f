import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { bestOperatingPoint, pairedWinRate, parseNumberList } from '../../src/lab/evaluation/brand-evaluation';
import { EvalCase } from '../../src/lab/evaluation/style-evaluation';

const concept = { id: '2764', label: 'red heart' } as EvalCase['concept'];
const cases = (prompts: number, seeds: number): EvalCase[] =>
  Array.from({ length: prompts * seeds }, (_, i) => ({ concept, style: 'openmoji', prompt: `p${Math.floor(i / seeds)}`, seed: i % seeds }));

describe('brand evaluation helpers', () => {
  test('paired win rate counts ties half and brackets the rate with a bootstrap interval over prompts', () => {
    const c = cases(20, 2);
    const a = c.map((_, i) => (i % 4 === 0 ? 1 : i % 4 === 1 ? 0.5 : 0));
    const b = c.map(() => 0.5);
    const w = pairedWinRate(a, b, c);
    assert.equal(w.rate, 0.375); // wins 1/4, ties 1/4
    assert.ok(w.low <= w.rate && w.rate <= w.high && w.high - w.low > 0.05, JSON.stringify(w));
    assert.equal(w.cases, 40);
    const all = pairedWinRate(c.map(() => 1), b, c);
    assert.deepEqual([all.rate, all.low, all.high], [1, 1, 1]);
  });

  test('best operating point keeps concept top-5 above the floor', () => {
    const points = [
      { steps: 300, scale: 1, fidelity: 0.4, conceptTop5: 0.8 },
      { steps: 300, scale: 2, fidelity: 0.6, conceptTop5: 0.5 },
      { steps: 900, scale: 1, fidelity: 0.5, conceptTop5: 0.75 },
    ];
    assert.deepEqual(bestOperatingPoint(points, 0.7), points[2]);
    assert.equal(bestOperatingPoint(points, 0.9), null);
    assert.deepEqual(parseNumberList('0.5, 1,2', 'x'), [0.5, 1, 2]);
    assert.throws(() => parseNumberList('1,a', 'x'), /--x/);
  });
});
