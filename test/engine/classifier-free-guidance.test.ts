import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { applyClassifierFreeGuidance } from '../../src/engine/pipeline/classifier-free-guidance';

test('classifier-free guidance: uncond + g·(cond − uncond) per row, scale 1 keeps the conditional row', () => {
  // Rows: cond0, cond1, uncond0, uncond1 (two values each).
  const out = Float32Array.from([1, 2, 5, -1, 0.5, 4, 2, 1]);
  const copy = out.slice();
  const guided = applyClassifierFreeGuidance(out, 2, [1, 3]);
  assert.deepEqual([...guided], [1, 2, 2 + 3 * (5 - 2), 1 + 3 * (-1 - 1)]);
  assert.deepEqual(out, copy, 'input left untouched');
  assert.throws(() => applyClassifierFreeGuidance(out, 3, [1, 1, 1]), RangeError);
  assert.throws(() => applyClassifierFreeGuidance(out, 2, [1]), RangeError);
});
