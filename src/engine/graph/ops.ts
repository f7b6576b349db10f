/**
 * One model definition, several executors. Model code (UNet, text encoder) is written once against
 * this interface; `TfjsOps` executes it eagerly and differentiably with tfjs, `OnnxGraphOps` records
 * it as an ONNX graph (optionally with reverse-mode gradients) for ONNX Runtime.
 *
 * Shapes: every dimension is static except the batch dimension, which graph builders report as -1.
 * Reshape targets follow ONNX semantics: -1 is inferred (use it for the batch dimension only).
 */
export interface Ops<T> {
  /** Static shape; the batch dimension may be -1 in graph builders. */
  shape(x: T): number[];
  /** A model parameter by its diffusers/transformers name. */
  param(name: string): T;
  hasParam(name: string): boolean;
  /** A float32 constant. */
  constant(data: Float32Array | number[], shape: number[]): T;
  /** Per-sample LoRA factors for a linear layer, or null when no adapter targets it. */
  lora(moduleName: string): LoraFactors<T> | null;

  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  div(a: T, b: T): T;
  scale(x: T, s: number): T;
  addScalar(x: T, s: number): T;
  /** Batched matrix product with numpy broadcasting of the leading dimensions. */
  matmul(a: T, b: T): T;
  /** x[..., in] · wᵀ + b with w laid out [out, in] as in torch.nn.Linear. */
  linear(x: T, w: T, b: T | null): T;
  /** NCHW convolution, weights [out, in, k, k], symmetric padding. */
  conv2d(x: T, w: T, b: T | null, stride: number, pad: number): T;
  transpose(x: T, perm: number[]): T;
  reshape(x: T, shape: number[]): T;
  concat(xs: T[], axis: number): T;
  slice(x: T, axis: number, start: number, end: number): T;
  reduceMean(x: T, axes: number[]): T; // keeps dims
  reduceSum(x: T, axes: number[]): T; // keeps dims
  softmax(x: T): T; // over the last axis
  /** log(softmax(x)) over the last axis, computed stably (cross-entropy losses). */
  logSoftmax(x: T): T;
  sigmoid(x: T): T;
  relu(x: T): T;
  erf(x: T): T;
  exp(x: T): T;
  sqrt(x: T): T;
  sin(x: T): T;
  cos(x: T): T;
  /**
   * The k×k patches of NCHW x as columns (torch.nn.functional.unfold): [N, C·k², Ho·Wo], rows in
   * (channel, ky, kx) order. Inference only: graph builders give it no gradient.
   */
  unfold(x: T, k: number, stride: number, pad: number): T;
  /** Nearest-neighbour 2× upsampling of NCHW. */
  upsampleNearest2x(x: T): T;
  /** Rows of table [V, D] selected by integer ids [N, L] → [N, L, D]. */
  embedding(ids: T, table: T): T;
  /** Group normalisation of NCHW without affine parameters. */
  groupNormCore(x: T, groups: number, eps: number): T;
  /** Layer normalisation over the last axis without affine parameters. */
  layerNormCore(x: T, eps: number): T;
}

/**
 * LoRA factors with the batch as leading dimension (1 broadcasts): a [N|1, r, in], b [N|1, out, r]
 * (scale folded in). For a k×k convolution `in` is channels·k², in (channel, ky, kx) order.
 */
export interface LoraFactors<T> {
  a: T;
  b: T;
}

// ---- composites shared by every executor ----

export function silu<T>(ops: Ops<T>, x: T): T {
  return ops.mul(x, ops.sigmoid(x));
}

/** Exact (erf) GELU, as torch.nn.functional.gelu. */
export function gelu<T>(ops: Ops<T>, x: T): T {
  const inner = ops.addScalar(ops.erf(ops.scale(x, Math.SQRT1_2)), 1);
  return ops.mul(ops.scale(x, 0.5), inner);
}

/** CLIP's quick_gelu: x·σ(1.702x). */
export function quickGelu<T>(ops: Ops<T>, x: T): T {
  return ops.mul(x, ops.sigmoid(ops.scale(x, 1.702)));
}

export function activation<T>(ops: Ops<T>, name: string, x: T): T {
  switch (name) {
    case 'silu':
    case 'swish':
      return silu(ops, x);
    case 'gelu':
      return gelu(ops, x);
    case 'quick_gelu':
      return quickGelu(ops, x);
    default:
      throw new Error(`unsupported activation: ${name}`);
  }
}

/** Linear layer by module name, with the LoRA delta when an adapter targets this module. */
export function linearModule<T>(ops: Ops<T>, x: T, name: string, bias = true): T {
  const b = bias && ops.hasParam(`${name}.bias`) ? ops.param(`${name}.bias`) : null;
  let y = ops.linear(x, ops.param(`${name}.weight`), b);
  const lora = ops.lora(name);
  if (lora) {
    // Per-sample factors pair with a row of tokens: a [N, in] input (time_emb_proj) becomes [N, 1, in].
    const rows = ops.shape(x).length === 2;
    const tokens = rows ? ops.reshape(x, [-1, 1, ops.shape(x)[1]]) : x;
    const down = ops.matmul(tokens, ops.transpose(lora.a, [0, 2, 1]));
    const delta = ops.matmul(down, ops.transpose(lora.b, [0, 2, 1]));
    y = ops.add(y, rows ? ops.reshape(delta, [-1, ops.shape(delta)[2]]) : delta);
  }
  return y;
}

/** Convolution by module name, with the LoRA delta when an adapter targets this module. */
export function conv2dModule<T>(ops: Ops<T>, x: T, name: string, stride = 1, pad?: number): T {
  const w = ops.param(`${name}.weight`);
  const k = ops.shape(w)[2];
  const b = ops.hasParam(`${name}.bias`) ? ops.param(`${name}.bias`) : null;
  const p = pad ?? Math.floor(k / 2);
  const y = ops.conv2d(x, w, b, stride, p);
  const lora = ops.lora(name);
  return lora ? ops.add(y, convLoraDelta(ops, x, lora, k, stride, p)) : y;
}

/**
 * peft's LoRA on a convolution: B(A(x)) with A a k×k convolution to r channels and B a 1×1 one.
 * Factors shared by the whole batch run as two convolutions (training graphs, with gradients);
 * per-sample factors (inference batches mixing adapters) multiply the input's k×k patches instead.
 */
function convLoraDelta<T>(ops: Ops<T>, x: T, f: LoraFactors<T>, k: number, stride: number, pad: number): T {
  const [, c, h, w] = ops.shape(x);
  const [batch, rank] = ops.shape(f.a);
  const out = ops.shape(f.b)[1];
  if (batch === 1 && rank > 0) {
    const down = ops.conv2d(x, ops.reshape(f.a, [rank, c, k, k]), null, stride, pad);
    return ops.conv2d(down, ops.reshape(f.b, [out, rank, 1, 1]), null, 1, 0);
  }
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1;
  const wo = Math.floor((w + 2 * pad - k) / stride) + 1;
  const patches = ops.unfold(x, k, stride, pad);
  const up = ops.matmul(f.b, ops.matmul(f.a, patches));
  return ops.reshape(up, [-1, out, ho, wo]);
}

export function groupNormModule<T>(ops: Ops<T>, x: T, name: string, groups: number, eps: number): T {
  const c = ops.shape(x)[1];
  const y = ops.groupNormCore(x, groups, eps);
  const gamma = ops.reshape(ops.param(`${name}.weight`), [1, c, 1, 1]);
  const beta = ops.reshape(ops.param(`${name}.bias`), [1, c, 1, 1]);
  return ops.add(ops.mul(y, gamma), beta);
}

export function layerNormModule<T>(ops: Ops<T>, x: T, name: string, eps: number): T {
  const y = ops.layerNormCore(x, eps);
  return ops.add(ops.mul(y, ops.param(`${name}.weight`)), ops.param(`${name}.bias`));
}

/**
 * Multi-head scaled dot-product attention. q [N, L, H·d], k/v [N, M, H·d]; bias broadcastable to
 * [N, H, L, M] (additive mask) or null.
 */
export function multiHeadAttention<T>(ops: Ops<T>, q: T, k: T, v: T, heads: number, bias: T | null): T {
  const [, l, inner] = ops.shape(q);
  const m = ops.shape(k)[1];
  const d = inner / heads;
  const qh = ops.transpose(ops.reshape(ops.scale(q, 1 / Math.sqrt(d)), [-1, l, heads, d]), [0, 2, 1, 3]);
  const kh = ops.transpose(ops.reshape(k, [-1, m, heads, d]), [0, 2, 3, 1]);
  const vh = ops.transpose(ops.reshape(v, [-1, m, heads, d]), [0, 2, 1, 3]);
  let scores = ops.matmul(qh, kh);
  if (bias) scores = ops.add(scores, bias);
  const out = ops.matmul(ops.softmax(scores), vh);
  return ops.reshape(ops.transpose(out, [0, 2, 1, 3]), [-1, l, inner]);
}
