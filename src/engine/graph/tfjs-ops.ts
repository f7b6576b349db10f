import type * as tfType from '@tensorflow/tfjs-core';
import { LoraFactors, Ops } from './ops';

type Tensor = tfType.Tensor;

/**
 * Eager, differentiable executor of the model definition on tfjs. Parameters come from a name map
 * (tensors or variables); LoRA factors from a second map. Used for training with tfjs backends and
 * as the reference the ONNX exporter is checked against.
 */
export class TfjsOps implements Ops<Tensor> {
  constructor(
    private readonly tf: typeof tfType,
    private readonly params: Map<string, Tensor>,
    private readonly loraFactors: Map<string, LoraFactors<Tensor>> = new Map(),
  ) {}

  shape(x: Tensor): number[] {
    return x.shape;
  }
  param(name: string): Tensor {
    const p = this.params.get(name);
    if (!p) throw new Error(`missing parameter ${name}`);
    return p;
  }
  hasParam(name: string): boolean {
    return this.params.has(name);
  }
  constant(data: Float32Array | number[], shape: number[]): Tensor {
    return this.tf.tensor(data instanceof Float32Array ? data : Float32Array.from(data), shape, 'float32');
  }
  lora(moduleName: string): LoraFactors<Tensor> | null {
    return this.loraFactors.get(moduleName) ?? null;
  }
  add(a: Tensor, b: Tensor): Tensor {
    return this.tf.add(a, b);
  }
  sub(a: Tensor, b: Tensor): Tensor {
    return this.tf.sub(a, b);
  }
  mul(a: Tensor, b: Tensor): Tensor {
    return this.tf.mul(a, b);
  }
  div(a: Tensor, b: Tensor): Tensor {
    return this.tf.div(a, b);
  }
  scale(x: Tensor, s: number): Tensor {
    return this.tf.mul(x, this.tf.scalar(s));
  }
  addScalar(x: Tensor, s: number): Tensor {
    return this.tf.add(x, this.tf.scalar(s));
  }
  matmul(a: Tensor, b: Tensor): Tensor {
    const tf = this.tf;
    if (a.rank === 3 && b.rank === 3 && b.shape[0] === 1 && a.shape[0] !== 1) {
      // A shared right operand: one 2-D product (tfjs' BatchMatMul gradient does not unbroadcast).
      const [n, l, k] = a.shape as number[];
      const y = tf.matMul(tf.reshape(a, [n * l, k]), tf.reshape(b, [b.shape[1] as number, b.shape[2] as number]));
      return tf.reshape(y, [n, l, b.shape[2] as number]);
    }
    if (a.rank === b.rank) return tf.matMul(a, b);
    // Broadcast the lower-rank operand over the leading dimensions.
    if (b.rank === 2) {
      const lead = a.shape.slice(0, -1);
      const flat = tf.reshape(a, [-1, a.shape[a.rank - 1]]);
      return tf.reshape(tf.matMul(flat, b), [...lead, b.shape[1] as number]);
    }
    const rank = Math.max(a.rank, b.rank);
    const expand = (t: Tensor) => (t.rank < rank ? tf.reshape(t, [...new Array(rank - t.rank).fill(1), ...t.shape]) : t);
    return tf.matMul(expand(a), expand(b));
  }
  linear(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
    const tf = this.tf;
    const lead = x.shape.slice(0, -1);
    let y = tf.matMul(tf.reshape(x, [-1, x.shape[x.rank - 1]]), w, false, true);
    if (b) y = tf.add(y, b);
    return tf.reshape(y, [...lead, w.shape[0]]);
  }
  conv2d(x: Tensor, w: Tensor, b: Tensor | null, stride: number, pad: number): Tensor {
    const tf = this.tf;
    const xNhwc = tf.transpose(x, [0, 2, 3, 1]) as tfType.Tensor4D;
    const wHwio = tf.transpose(w, [2, 3, 1, 0]) as tfType.Tensor4D;
    const padded = pad > 0 ? tf.pad(xNhwc, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) : xNhwc;
    let y: Tensor = tf.conv2d(padded, wHwio, stride, 'valid');
    if (b) y = tf.add(y, b);
    return tf.transpose(y, [0, 3, 1, 2]);
  }
  transpose(x: Tensor, perm: number[]): Tensor {
    return this.tf.transpose(x, perm);
  }
  reshape(x: Tensor, shape: number[]): Tensor {
    return this.tf.reshape(x, shape.map((d, i) => (d === 0 ? x.shape[i] : d)));
  }
  concat(xs: Tensor[], axis: number): Tensor {
    return this.tf.concat(xs, axis);
  }
  slice(x: Tensor, axis: number, start: number, end: number): Tensor {
    const begin = x.shape.map(() => 0);
    const size = x.shape.map((d) => d);
    begin[axis] = start;
    size[axis] = end - start;
    return this.tf.slice(x, begin, size);
  }
  reduceMean(x: Tensor, axes: number[]): Tensor {
    return this.tf.mean(x, axes, true);
  }
  reduceSum(x: Tensor, axes: number[]): Tensor {
    return this.tf.sum(x, axes, true);
  }
  softmax(x: Tensor): Tensor {
    return this.tf.softmax(x, -1);
  }
  logSoftmax(x: Tensor): Tensor {
    return this.tf.logSoftmax(x, -1);
  }
  sigmoid(x: Tensor): Tensor {
    return this.tf.sigmoid(x);
  }
  relu(x: Tensor): Tensor {
    return this.tf.relu(x);
  }
  erf(x: Tensor): Tensor {
    return this.tf.erf(x);
  }
  exp(x: Tensor): Tensor {
    return this.tf.exp(x);
  }
  sqrt(x: Tensor): Tensor {
    return this.tf.sqrt(x);
  }
  sin(x: Tensor): Tensor {
    return this.tf.sin(x);
  }
  cos(x: Tensor): Tensor {
    return this.tf.cos(x);
  }
  unfold(x: Tensor, k: number, stride: number, pad: number): Tensor {
    const tf = this.tf;
    const [n, c, h, w] = x.shape;
    const ho = Math.floor((h + 2 * pad - k) / stride) + 1;
    const wo = Math.floor((w + 2 * pad - k) / stride) + 1;
    const xp = pad > 0 ? tf.pad(x, [[0, 0], [0, 0], [pad, pad], [pad, pad]]) : x;
    const cols: Tensor[] = [];
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        const sl = tf.stridedSlice(xp, [0, 0, i, j], [n, c, i + stride * (ho - 1) + 1, j + stride * (wo - 1) + 1], [1, 1, stride, stride]);
        cols.push(tf.reshape(sl, [n, c, 1, ho * wo]));
      }
    }
    return tf.reshape(cols.length === 1 ? cols[0] : tf.concat(cols, 2), [n, c * k * k, ho * wo]);
  }
  upsampleNearest2x(x: Tensor): Tensor {
    const tf = this.tf;
    const [n, c, h, w] = x.shape;
    // Duplicate columns then rows with concat (tile's gradient stops at rank 5).
    const cols = tf.reshape(x, [n, c, h, w, 1]);
    const wide = tf.reshape(tf.concat([cols, cols], 4), [n, c, h, 1, w * 2]);
    return tf.reshape(tf.concat([wide, wide], 3), [n, c, h * 2, w * 2]);
  }
  embedding(ids: Tensor, table: Tensor): Tensor {
    const tf = this.tf;
    const flat = tf.reshape(tf.cast(ids, 'int32'), [-1]);
    return tf.reshape(tf.gather(table, flat), [...ids.shape, table.shape[1] as number]);
  }
  groupNormCore(x: Tensor, groups: number, eps: number): Tensor {
    const tf = this.tf;
    const [n, c, h, w] = x.shape;
    const g = tf.reshape(x, [n, groups, (c / groups) * h * w]);
    const { mean, variance } = tf.moments(g, [2], true);
    const y = tf.div(tf.sub(g, mean), tf.sqrt(tf.add(variance, tf.scalar(eps))));
    return tf.reshape(y, [n, c, h, w]);
  }
  layerNormCore(x: Tensor, eps: number): Tensor {
    const tf = this.tf;
    const { mean, variance } = tf.moments(x, [x.rank - 1], true);
    return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, tf.scalar(eps))));
  }
}
