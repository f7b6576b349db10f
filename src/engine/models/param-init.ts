import { Random } from '../schedulers/random';
import { ParamShapes } from './unet-params';

export type ParamMap = Map<string, { shape: number[]; data: Float32Array }>;

/**
 * torch defaults: Linear/Conv weights and biases U(±1/√fan_in); norms γ=1, β=0; embeddings N(0, 0.02²)
 * as CLIP initialises them. `randomNorms` also randomises γ/β so tests exercise the affine terms.
 */
export function initParams(shapes: ParamShapes, seed: number, opts: { randomNorms?: boolean; zeroInit?: (name: string) => boolean } = {}): ParamMap {
  const rng = new Random(seed);
  const out: ParamMap = new Map();
  const weightShapes = new Map<string, number[]>();
  for (const [name, shape] of shapes) if (name.endsWith('.weight')) weightShapes.set(name.slice(0, -'.weight'.length), shape);
  for (const [name, shape] of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const module = name.slice(0, name.lastIndexOf('.'));
    const wShape = weightShapes.get(module) ?? shape;
    const isNorm = wShape.length === 1;
    const isEmbedding = name.includes('embedding.weight') && !name.includes('time_embedding');
    if (opts.zeroInit?.(name)) {
      // left at zero
    } else if (isEmbedding) {
      for (let i = 0; i < size; i++) data[i] = rng.normal() * 0.02;
    } else if (isNorm) {
      const base = name.endsWith('.weight') ? 1 : 0;
      for (let i = 0; i < size; i++) data[i] = base + (opts.randomNorms ? (rng.uniform() - 0.5) * 0.5 : 0);
    } else {
      const fanIn = wShape.slice(1).reduce((a, b) => a * b, 1);
      const bound = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < size; i++) data[i] = (rng.uniform() * 2 - 1) * bound;
    }
    out.set(name, { shape, data });
  }
  return out;
}
