import { LoraFactors, Ops } from './ops';
import { OnnxAttribute, OnnxDataType, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo, attr } from '../onnx/onnx-model';

/**
 * A symbolic tensor in the graph being built. Dimensions are static except negative ones:
 * -1 is the batch, -2 the LoRA rank.
 */
export interface Sym {
  name: string;
  shape: number[];
  dtype: OnnxDataType;
  /** Depends on a tensor we differentiate with respect to. */
  grad: boolean;
}

export interface ParamSource {
  get(name: string): { shape: number[]; data: Float32Array } | undefined;
  has(name: string): boolean;
}

export interface LoraInputSpec {
  /** Modules (linear layers) that receive LoRA factors as graph inputs. */
  modules: string[];
  /** Per-sample factors ([batch, r, in]) for inference, or one shared set ([1, r, in]) for training. */
  perSample: boolean;
  /** Static rank for training graphs; inference graphs use a dynamic rank. */
  rank?: number;
  trainable: boolean;
}

export interface OnnxGraphOpsOptions {
  params: ParamSource;
  /** Parameters that become graph inputs (with gradients when differentiable); the rest are initializers. */
  trainableParams?: (name: string) => boolean;
  /** Emit decomposed, differentiable forms and record a tape for `gradients`. */
  differentiable?: boolean;
  lora?: LoraInputSpec;
}

type Backward = (g: Sym) => (Sym | null)[];
interface TapeEntry {
  out: Sym;
  inputs: Sym[];
  backward: Backward;
}

const DIM_NAMES: Record<number, string> = { [-1]: 'batch', [-2]: 'lora_rank' };

/** Builds an ONNX graph from the model definition, with optional reverse-mode gradients. */
export class OnnxGraphOps implements Ops<Sym> {
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly inputs: OnnxValueInfo[] = [];
  private readonly outputs: OnnxValueInfo[] = [];
  private readonly tape: TapeEntry[] = [];
  private readonly paramSyms = new Map<string, Sym>();
  private readonly transposedWeights = new Map<string, Sym>();
  private readonly constCache = new Map<string, Sym>();
  private readonly loraSyms = new Map<string, LoraFactors<Sym>>();
  private readonly loraModules: Set<string>;
  readonly trainableInputs: Sym[] = [];
  private counter = 0;
  private readonly differentiable: boolean;

  constructor(private readonly opts: OnnxGraphOpsOptions) {
    this.differentiable = opts.differentiable ?? false;
    this.loraModules = new Set(opts.lora?.modules ?? []);
  }

  // ---------- graph plumbing ----------

  input(name: string, shape: number[], dtype: OnnxDataType = 'float32', grad = false): Sym {
    this.inputs.push({ name, dataType: dtype, shape: shape.map(dimName) });
    const s: Sym = { name, shape, dtype, grad };
    if (grad) this.trainableInputs.push(s);
    return s;
  }

  output(x: Sym, name: string): void {
    const s = this.emit('Identity', [x], {}, x.shape, x.dtype, [name]);
    this.outputs.push({ name: s.name, dataType: x.dtype, shape: x.shape.map(dimName) });
  }

  toModel(metadata?: Record<string, string>): OnnxModel {
    // Parameters read only through their pre-transposed copy are left out.
    const used = new Set(this.nodes.flatMap((n) => n.inputs));
    const initializers = this.initializers.filter((t) => used.has(t.name));
    return {
      graph: { name: 'graph', nodes: this.nodes, inputs: this.inputs, outputs: this.outputs, initializers },
      opsetVersion: 17,
      producerName: 'style-as-a-service',
      metadata,
    } as OnnxModel;
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  private emit(
    op: string,
    inputs: (Sym | string)[],
    attributes: Record<string, OnnxAttribute>,
    shape: number[],
    dtype: OnnxDataType = 'float32',
    outputNames?: string[],
  ): Sym {
    const name = outputNames?.[0] ?? this.fresh(op);
    this.nodes.push({
      opType: op,
      inputs: inputs.map((i) => (typeof i === 'string' ? i : i.name)),
      outputs: [name],
      name: `n_${name}`,
      attributes,
    });
    return { name, shape, dtype, grad: false };
  }

  /** Emits a node and records its backward rule when any input carries a gradient. */
  private op(op: string, inputs: Sym[], attributes: Record<string, OnnxAttribute>, shape: number[], backward?: Backward): Sym {
    const out = this.emit(op, inputs, attributes, shape);
    if (this.differentiable && backward && inputs.some((i) => i.grad)) {
      out.grad = true;
      this.tape.push({ out, inputs, backward });
    }
    return out;
  }

  private ints(values: number[]): Sym {
    const key = `i64:${values.join(',')}`;
    let s = this.constCache.get(key);
    if (!s) {
      const name = this.fresh('const_i64');
      this.initializers.push({ name, dataType: 'int64', dims: [values.length], data: BigInt64Array.from(values.map(BigInt)) });
      s = { name, shape: [values.length], dtype: 'int64', grad: false };
      this.constCache.set(key, s);
    }
    return s;
  }

  private scalar(value: number): Sym {
    const key = `f32:${value}`;
    let s = this.constCache.get(key);
    if (!s) {
      const name = this.fresh('const_f32');
      this.initializers.push({ name, dataType: 'float32', dims: [], data: Float32Array.of(value) });
      s = { name, shape: [], dtype: 'float32', grad: false };
      this.constCache.set(key, s);
    }
    return s;
  }

  // ---------- Ops ----------

  shape(x: Sym): number[] {
    return x.shape;
  }

  hasParam(name: string): boolean {
    return this.opts.params.has(name);
  }

  param(name: string): Sym {
    let s = this.paramSyms.get(name);
    if (s) return s;
    const p = this.opts.params.get(name);
    if (!p) throw new Error(`missing parameter ${name}`);
    if (this.opts.trainableParams?.(name)) {
      s = this.input(name, p.shape, 'float32', this.differentiable);
    } else {
      this.initializers.push({ name, dataType: 'float32', dims: p.shape, data: p.data });
      s = { name, shape: p.shape, dtype: 'float32', grad: false };
    }
    this.paramSyms.set(name, s);
    return s;
  }

  constant(data: Float32Array | number[], shape: number[]): Sym {
    const name = this.fresh('const');
    this.initializers.push({ name, dataType: 'float32', dims: shape, data: data instanceof Float32Array ? data : Float32Array.from(data) });
    return { name, shape, dtype: 'float32', grad: false };
  }

  lora(moduleName: string): LoraFactors<Sym> | null {
    const spec = this.opts.lora;
    if (!spec || !this.loraModules.has(moduleName)) return null;
    let f = this.loraSyms.get(moduleName);
    if (f) return f;
    const w = this.opts.params.get(`${moduleName}.weight`);
    if (!w) throw new Error(`LoRA target ${moduleName} has no weight`);
    // A convolution's factor A covers its k×k patches: in = channels·k².
    const [out, ...rest] = w.shape;
    const inp = rest.reduce((p, d) => p * d, 1);
    const batch = spec.perSample ? -1 : 1;
    const rank = spec.rank ?? -2;
    const grad = spec.trainable && this.differentiable;
    f = {
      a: this.input(`lora.${moduleName}.a`, [batch, rank, inp], 'float32', grad),
      b: this.input(`lora.${moduleName}.b`, [batch, out, rank], 'float32', grad),
    };
    this.loraSyms.set(moduleName, f);
    return f;
  }

  add(a: Sym, b: Sym): Sym {
    return this.op('Add', [a, b], {}, broadcastShapes(a.shape, b.shape), (g) => [this.unbroadcast(g, a.shape), this.unbroadcast(g, b.shape)]);
  }

  sub(a: Sym, b: Sym): Sym {
    return this.op('Sub', [a, b], {}, broadcastShapes(a.shape, b.shape), (g) => [
      this.unbroadcast(g, a.shape),
      this.unbroadcast(this.emit('Neg', [g], {}, g.shape), b.shape),
    ]);
  }

  mul(a: Sym, b: Sym): Sym {
    const shape = broadcastShapes(a.shape, b.shape);
    return this.op('Mul', [a, b], {}, shape, (g) => [
      a.grad ? this.unbroadcast(this.emit('Mul', [g, b], {}, shape), a.shape) : null,
      b.grad ? this.unbroadcast(this.emit('Mul', [g, a], {}, shape), b.shape) : null,
    ]);
  }

  div(a: Sym, b: Sym): Sym {
    const shape = broadcastShapes(a.shape, b.shape);
    const out = this.op('Div', [a, b], {}, shape, (g) => {
      const ga = this.emit('Div', [g, b], {}, shape);
      return [
        a.grad ? this.unbroadcast(ga, a.shape) : null,
        b.grad ? this.unbroadcast(this.emit('Neg', [this.emit('Mul', [ga, out], {}, shape)], {}, shape), b.shape) : null,
      ];
    });
    return out;
  }

  scale(x: Sym, s: number): Sym {
    return this.op('Mul', [x, this.scalar(s)], {}, x.shape, (g) => [this.emit('Mul', [g, this.scalar(s)], {}, g.shape), null]);
  }

  addScalar(x: Sym, s: number): Sym {
    return this.op('Add', [x, this.scalar(s)], {}, x.shape, (g) => [g, null]);
  }

  matmul(a: Sym, b: Sym): Sym {
    const ra = a.shape.length;
    const rb = b.shape.length;
    const lead = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const shape = [...lead, a.shape[ra - 2], b.shape[rb - 1]];
    return this.op('MatMul', [a, b], {}, shape, (g) => {
      let ga: Sym | null = null;
      let gb: Sym | null = null;
      if (a.grad) {
        const bt = this.emit('Transpose', [b], { perm: attr.ints(lastTwoSwapped(rb)) }, swapLast(b.shape));
        ga = this.unbroadcast(this.emit('MatMul', [g, bt], {}, [...lead, a.shape[ra - 2], a.shape[ra - 1]]), a.shape);
      }
      if (b.grad) {
        if (rb === 2 && ra > 2) {
          // Shared weight: fold all leading dimensions into one GEMM instead of a batched product.
          const a2 = this.emit('Reshape', [a, this.ints([-1, a.shape[ra - 1]])], {}, [-1, a.shape[ra - 1]]);
          const g2 = this.emit('Reshape', [g, this.ints([-1, b.shape[1]])], {}, [-1, b.shape[1]]);
          gb = this.emit('Gemm', [a2, g2], { transA: attr.int(1) }, b.shape);
        } else {
          const at = this.emit('Transpose', [a], { perm: attr.ints(lastTwoSwapped(ra)) }, swapLast(a.shape));
          gb = this.unbroadcast(this.emit('MatMul', [at, g], {}, [...lead, b.shape[rb - 2], b.shape[rb - 1]]), b.shape);
        }
      }
      return [ga, gb];
    });
  }

  linear(x: Sym, w: Sym, b: Sym | null): Sym {
    let wt: Sym;
    if (!w.grad && this.paramSyms.get(w.name) === w && !this.opts.trainableParams?.(w.name)) {
      wt = this.transposedInitializer(w);
    } else {
      wt = this.transpose(w, [1, 0]);
    }
    const y = this.matmul(x, wt);
    return b ? this.add(y, b) : y;
  }

  private transposedInitializer(w: Sym): Sym {
    let t = this.transposedWeights.get(w.name);
    if (t) return t;
    const p = this.opts.params.get(w.name)!;
    const [o, i] = p.shape;
    // Made when the model is encoded, so a large model's transposed copies never all exist at once.
    const data = (): Float32Array => {
      const out = new Float32Array(o * i);
      for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) out[c * o + r] = p.data[r * i + c];
      return out;
    };
    const name = `${w.name}.T`;
    this.initializers.push({ name, dataType: 'float32', dims: [i, o], data });
    t = { name, shape: [i, o], dtype: 'float32', grad: false };
    this.transposedWeights.set(w.name, t);
    return t;
  }

  conv2d(x: Sym, w: Sym, b: Sym | null, stride: number, pad: number): Sym {
    const [, , h, wd] = x.shape;
    const [cout, cin, k] = w.shape;
    const ho = Math.floor((h + 2 * pad - k) / stride) + 1;
    const wo = Math.floor((wd + 2 * pad - k) / stride) + 1;
    const attrs = { kernel_shape: attr.ints([k, k]), strides: attr.ints([stride, stride]), pads: attr.ints([pad, pad, pad, pad]) };
    const inputs = b ? [x, w, b] : [x, w];
    return this.op('Conv', inputs, attrs, [x.shape[0], cout, ho, wo], (g) => {
      const grads: (Sym | null)[] = [null, null, null];
      if (x.grad && stride === 1) {
        // A stride-1 convolution's input gradient is a convolution with the flipped, transposed kernel;
        // ONNX Runtime's Conv is markedly faster than its ConvTranspose on CPU.
        const wt = this.emit('Transpose', [w], { perm: attr.ints([1, 0, 2, 3]) }, [cin, cout, k, k]);
        const flipped = k === 1 ? wt : this.emit('Slice', [wt, this.ints([k - 1, k - 1]), this.ints([-k - 1, -k - 1]), this.ints([2, 3]), this.ints([-1, -1])], {}, [cin, cout, k, k]);
        const p = k - 1 - pad;
        grads[0] = this.emit('Conv', [g, flipped], { kernel_shape: attr.ints([k, k]), strides: attr.ints([1, 1]), pads: attr.ints([p, p, p, p]) }, x.shape);
      } else if (x.grad) {
        const outPad = [h - ((ho - 1) * stride - 2 * pad + k), wd - ((wo - 1) * stride - 2 * pad + k)];
        grads[0] = this.emit(
          'ConvTranspose',
          [g, w],
          { ...attrs, output_padding: attr.ints(outPad) },
          x.shape,
        );
      }
      if (w.grad) grads[1] = this.convWeightGrad(x, g, k, stride, pad, cin, cout, ho, wo);
      if (b && b.grad) {
        grads[2] = this.emit('ReduceSum', [g, this.ints([0, 2, 3])], { keepdims: attr.int(0) }, [cout]);
      }
      return b ? grads : grads.slice(0, 2);
    });
  }

  /**
   * dL/dW by im2col: k² strided slices of the padded input, then one GEMM against the output gradient.
   * The input is moved to channel-major order once, before slicing, so the k²-times larger column
   * matrix is built directly in the [Cin·k², N·HW] layout the GEMM needs.
   */
  private convWeightGrad(x: Sym, g: Sym, k: number, stride: number, pad: number, cin: number, cout: number, ho: number, wo: number): Sym {
    const [, , h, wd] = x.shape;
    const xc = this.emit('Transpose', [x], { perm: attr.ints([1, 0, 2, 3]) }, [cin, -1, h, wd]);
    const xp = pad > 0 ? this.emit('Pad', [xc, this.ints([0, 0, pad, pad, 0, 0, pad, pad])], {}, [cin, -1, h + 2 * pad, wd + 2 * pad]) : xc;
    const cols: Sym[] = [];
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        const sl = this.emit(
          'Slice',
          [xp, this.ints([i, j]), this.ints([i + stride * (ho - 1) + 1, j + stride * (wo - 1) + 1]), this.ints([2, 3]), this.ints([stride, stride])],
          {},
          [cin, -1, ho, wo],
        );
        cols.push(this.emit('Reshape', [sl, this.ints([cin, 1, -1])], {}, [cin, 1, -1]));
      }
    }
    const stacked = cols.length === 1 ? cols[0] : this.emit('Concat', cols, { axis: attr.int(1) }, [cin, k * k, -1]);
    const c2 = this.emit('Reshape', [stacked, this.ints([cin * k * k, -1])], {}, [cin * k * k, -1]);
    const gc = this.emit('Transpose', [g], { perm: attr.ints([1, 0, 2, 3]) }, [cout, -1, ho, wo]);
    const g2 = this.emit('Reshape', [gc, this.ints([cout, -1])], {}, [cout, -1]);
    const gw = this.emit('Gemm', [g2, c2], { transB: attr.int(1) }, [cout, cin * k * k]);
    return this.emit('Reshape', [gw, this.ints([cout, cin, k, k])], {}, [cout, cin, k, k]);
  }

  transpose(x: Sym, perm: number[]): Sym {
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    return this.op('Transpose', [x], { perm: attr.ints(perm) }, perm.map((p) => x.shape[p]), (g) => [
      this.emit('Transpose', [g], { perm: attr.ints(inverse) }, x.shape),
    ]);
  }

  reshape(x: Sym, shape: number[]): Sym {
    const resolved = resolveReshape(x.shape, shape);
    return this.op('Reshape', [x, this.ints(shape)], {}, resolved, (g) => [this.reshapeTo(g, x.shape)]);
  }

  private reshapeTo(g: Sym, shape: number[]): Sym {
    return this.emit('Reshape', [g, this.ints(shape.map((d) => (d < 0 ? -1 : d)))], {}, shape);
  }

  concat(xs: Sym[], axis: number): Sym {
    const shape = [...xs[0].shape];
    shape[axis] = xs.reduce((s, x) => s + x.shape[axis], 0);
    return this.op('Concat', xs, { axis: attr.int(axis) }, shape, (g) => {
      let offset = 0;
      return xs.map((x) => {
        const start = offset;
        offset += x.shape[axis];
        return x.grad ? this.emit('Slice', [g, this.ints([start]), this.ints([offset]), this.ints([axis])], {}, x.shape) : null;
      });
    });
  }

  slice(x: Sym, axis: number, start: number, end: number): Sym {
    const shape = [...x.shape];
    shape[axis] = end - start;
    return this.op('Slice', [x, this.ints([start]), this.ints([end]), this.ints([axis])], {}, shape, (g) => {
      const rank = x.shape.length;
      const pads = new Array<number>(rank * 2).fill(0);
      pads[axis] = start;
      if (x.shape[axis] >= 0) {
        pads[rank + axis] = x.shape[axis] - end;
        return [this.emit('Pad', [g, this.ints(pads)], {}, x.shape)];
      }
      // A dynamic axis (the batch): the trailing pad is its run-time size minus end.
      const size = this.emit('Gather', [this.emit('Shape', [x], {}, [rank], 'int64'), this.ints([axis])], { axis: attr.int(0) }, [1], 'int64');
      const tail = this.emit('Sub', [size, this.ints([end])], {}, [1], 'int64');
      const dynamicPads = this.emit('Concat', [this.ints(pads.slice(0, rank + axis)), tail, this.ints(pads.slice(rank + axis + 1))], { axis: attr.int(0) }, [2 * rank], 'int64');
      return [this.emit('Pad', [g, dynamicPads], {}, x.shape)];
    });
  }

  reduceMean(x: Sym, axes: number[]): Sym {
    const shape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const dynamic = axes.some((a) => x.shape[a] < 0);
    const count = axes.reduce((c, a) => c * x.shape[a], 1);
    return this.op('ReduceMean', [x], { axes: attr.ints(axes), keepdims: attr.int(1) }, shape, (g) => {
      const expanded = this.expandLike(g, x);
      if (!dynamic) return [this.emit('Mul', [expanded, this.scalar(1 / count)], {}, x.shape)];
      // The element count includes the batch, known only at run time.
      const dims = this.emit('Gather', [this.emit('Shape', [x], {}, [x.shape.length], 'int64'), this.ints(axes)], { axis: attr.int(0) }, [axes.length], 'int64');
      const n = this.emit('Cast', [this.emit('ReduceProd', [dims], { keepdims: attr.int(0) }, [], 'int64')], { to: attr.int(1) }, []);
      return [this.emit('Div', [expanded, n], {}, x.shape)];
    });
  }

  reduceSum(x: Sym, axes: number[]): Sym {
    const shape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    return this.op('ReduceSum', [x, this.ints(axes)], { keepdims: attr.int(1) }, shape, (g) => [this.expandLike(g, x)]);
  }

  private expandLike(g: Sym, like: Sym): Sym {
    const target = like.shape.some((d) => d < 0)
      ? this.emit('Shape', [like], {}, [like.shape.length], 'int64')
      : this.ints(like.shape);
    return this.emit('Expand', [g, target], {}, like.shape);
  }

  softmax(x: Sym): Sym {
    const out = this.op('Softmax', [x], { axis: attr.int(-1) }, x.shape, (g) => {
      const gy = this.emit('Mul', [g, out], {}, x.shape);
      const sum = this.emit('ReduceSum', [gy, this.ints([-1])], { keepdims: attr.int(1) }, [...x.shape.slice(0, -1), 1]);
      return [this.emit('Mul', [out, this.emit('Sub', [g, sum], {}, x.shape)], {}, x.shape)];
    });
    return out;
  }

  logSoftmax(x: Sym): Sym {
    const out = this.op('LogSoftmax', [x], { axis: attr.int(-1) }, x.shape, (g) => {
      // d/dx = g − softmax(x) · Σ g over the last axis.
      const sum = this.emit('ReduceSum', [g, this.ints([-1])], { keepdims: attr.int(1) }, [...x.shape.slice(0, -1), 1]);
      const soft = this.emit('Exp', [out], {}, x.shape);
      return [this.emit('Sub', [g, this.emit('Mul', [soft, sum], {}, x.shape)], {}, x.shape)];
    });
    return out;
  }

  sigmoid(x: Sym): Sym {
    const out = this.op('Sigmoid', [x], {}, x.shape, (g) => {
      const oneMinus = this.emit('Sub', [this.scalar(1), out], {}, x.shape);
      return [this.emit('Mul', [g, this.emit('Mul', [out, oneMinus], {}, x.shape)], {}, x.shape)];
    });
    return out;
  }

  relu(x: Sym): Sym {
    const out = this.op('Relu', [x], {}, x.shape, (g) => {
      const active = this.emit('Cast', [this.emit('Greater', [out, this.scalar(0)], {}, x.shape, 'bool')], { to: attr.int(1) }, x.shape);
      return [this.emit('Mul', [g, active], {}, x.shape)];
    });
    return out;
  }

  erf(x: Sym): Sym {
    return this.op('Erf', [x], {}, x.shape, (g) => {
      const sq = this.emit('Mul', [x, x], {}, x.shape);
      const e = this.emit('Exp', [this.emit('Neg', [sq], {}, x.shape)], {}, x.shape);
      return [this.emit('Mul', [g, this.emit('Mul', [e, this.scalar(2 / Math.sqrt(Math.PI))], {}, x.shape)], {}, x.shape)];
    });
  }

  exp(x: Sym): Sym {
    const out = this.op('Exp', [x], {}, x.shape, (g) => [this.emit('Mul', [g, out], {}, x.shape)]);
    return out;
  }

  sqrt(x: Sym): Sym {
    const out = this.op('Sqrt', [x], {}, x.shape, (g) => [
      this.emit('Div', [this.emit('Mul', [g, this.scalar(0.5)], {}, x.shape), out], {}, x.shape),
    ]);
    return out;
  }

  sin(x: Sym): Sym {
    return this.op('Sin', [x], {}, x.shape, (g) => [this.emit('Mul', [g, this.emit('Cos', [x], {}, x.shape)], {}, x.shape)]);
  }

  cos(x: Sym): Sym {
    return this.op('Cos', [x], {}, x.shape, (g) => [
      this.emit('Neg', [this.emit('Mul', [g, this.emit('Sin', [x], {}, x.shape)], {}, x.shape)], {}, x.shape),
    ]);
  }

  unfold(x: Sym, k: number, stride: number, pad: number): Sym {
    if (this.differentiable && x.grad) throw new Error('unfold has no gradient: per-sample convolution LoRA is for inference graphs');
    const [n, c, h, w] = x.shape;
    const ho = Math.floor((h + 2 * pad - k) / stride) + 1;
    const wo = Math.floor((w + 2 * pad - k) / stride) + 1;
    const xp = pad > 0 ? this.emit('Pad', [x, this.ints([0, 0, pad, pad, 0, 0, pad, pad])], {}, [n, c, h + 2 * pad, w + 2 * pad]) : x;
    const cols: Sym[] = [];
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        const sl =
          k === 1 && stride === 1
            ? xp
            : this.emit('Slice', [xp, this.ints([i, j]), this.ints([i + stride * (ho - 1) + 1, j + stride * (wo - 1) + 1]), this.ints([2, 3]), this.ints([stride, stride])], {}, [n, c, ho, wo]);
        cols.push(this.emit('Reshape', [sl, this.ints([-1, c, 1, ho * wo])], {}, [n, c, 1, ho * wo]));
      }
    }
    const stacked = cols.length === 1 ? cols[0] : this.emit('Concat', cols, { axis: attr.int(2) }, [n, c, k * k, ho * wo]);
    return this.emit('Reshape', [stacked, this.ints([-1, c * k * k, ho * wo])], {}, [n, c * k * k, ho * wo]);
  }

  upsampleNearest2x(x: Sym): Sym {
    const [n, c, h, w] = x.shape;
    const r = this.reshape(x, [-1, c, h, 1, w, 1]);
    const expanded = this.op('Expand', [r, this.ints([1, 1, 1, 2, 1, 2])], {}, [n, c, h, 2, w, 2], (g) => [this.unbroadcast(g, r.shape), null]);
    return this.reshape(expanded, [-1, c, h * 2, w * 2]);
  }

  embedding(ids: Sym, table: Sym): Sym {
    const [vocab, dim] = table.shape;
    const shape = [...ids.shape, dim];
    return this.op('Gather', [table, ids], { axis: attr.int(0) }, shape, (g) => {
      // Scatter-add the row gradients into a zero table: no [N, L, V] one-hot is ever built.
      const zeros = this.emit('ConstantOfShape', [this.ints([vocab, dim])], { value: attr.tensor({ name: '', dataType: 'float32', dims: [1], data: Float32Array.of(0) }) }, [vocab, dim]);
      const indices = this.emit('Unsqueeze', [ids, this.ints([-1])], {}, [...ids.shape, 1], 'int64');
      return [this.emit('ScatterND', [zeros, indices, g], { reduction: attr.string('add') }, [vocab, dim]), null];
    });
  }

  groupNormCore(x: Sym, groups: number, eps: number): Sym {
    const [, c, h, w] = x.shape;
    if (!this.differentiable || !x.grad) {
      const grouped = this.emit('Reshape', [x, this.ints([-1, groups, (c / groups) * h * w])], {}, [-1, groups, (c / groups) * h * w]);
      const ones = this.constant(new Float32Array(groups).fill(1), [groups]);
      const zeros = this.constant(new Float32Array(groups), [groups]);
      const normed = this.emit('InstanceNormalization', [grouped, ones, zeros], { epsilon: attr.float(eps) }, grouped.shape);
      return this.emit('Reshape', [normed, this.ints([-1, c, h, w])], {}, x.shape);
    }
    const grouped = this.reshape(x, [-1, groups, (c / groups) * h * w]);
    return this.reshape(this.normalizeLastAxis(grouped, eps), [-1, c, h, w]);
  }

  layerNormCore(x: Sym, eps: number): Sym {
    if (!this.differentiable || !x.grad) {
      const d = x.shape[x.shape.length - 1];
      const ones = this.constant(new Float32Array(d).fill(1), [d]);
      const zeros = this.constant(new Float32Array(d), [d]);
      return this.emit('LayerNormalization', [x, ones, zeros], { axis: attr.int(-1), epsilon: attr.float(eps) }, x.shape);
    }
    return this.normalizeLastAxis(x, eps);
  }

  private normalizeLastAxis(x: Sym, eps: number): Sym {
    const last = x.shape.length - 1;
    const centered = this.sub(x, this.reduceMean(x, [last]));
    const variance = this.reduceMean(this.mul(centered, centered), [last]);
    return this.div(centered, this.sqrt(this.addScalar(variance, eps)));
  }

  // ---------- gradients ----------

  /** Sum-reduces a broadcast gradient back to `shape`. */
  private unbroadcast(g: Sym, shape: number[]): Sym {
    if (sameShape(g.shape, shape)) return g;
    const extra = g.shape.length - shape.length;
    const axes: number[] = [];
    for (let i = 0; i < g.shape.length; i++) {
      if (i < extra) axes.push(i);
      else if (shape[i - extra] === 1 && g.shape[i] !== 1) axes.push(i);
    }
    if (axes.length === 0) return g;
    const reduced = this.emit('ReduceSum', [g, this.ints(axes)], { keepdims: attr.int(1) }, g.shape.map((d, i) => (axes.includes(i) ? 1 : d)));
    return extra > 0 || !sameShape(reduced.shape, shape) ? this.reshapeTo(reduced, shape) : reduced;
  }

  /** Emits the backward pass of a scalar `loss` and returns d loss / d wrt (null where unreachable). */
  gradients(loss: Sym, wrt: Sym[]): (Sym | null)[] {
    if (loss.shape.length !== 0) throw new Error('gradients() needs a scalar loss');
    const grads = new Map<string, Sym>([[loss.name, this.scalar(1)]]);
    for (let i = this.tape.length - 1; i >= 0; i--) {
      const entry = this.tape[i];
      const g = grads.get(entry.out.name);
      if (!g) continue;
      const inputGrads = entry.backward(g);
      entry.inputs.forEach((input, k) => {
        const ig = inputGrads[k];
        if (!ig || !input.grad) return;
        const prev = grads.get(input.name);
        grads.set(input.name, prev ? this.emit('Add', [prev, ig], {}, input.shape) : ig);
      });
    }
    return wrt.map((w) => grads.get(w.name) ?? null);
  }
}

function dimName(d: number): number | string {
  return d < 0 ? (DIM_NAMES[d] ?? `dim${-d}`) : d;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function lastTwoSwapped(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return perm;
}

function swapLast(shape: number[]): number[] {
  const s = [...shape];
  [s[s.length - 2], s[s.length - 1]] = [s[s.length - 1], s[s.length - 2]];
  return s;
}

export function broadcastShapes(a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else if (da < 0 || db < 0) out.push(Math.min(da, db));
    else throw new Error(`cannot broadcast [${a}] with [${b}]`);
  }
  return out;
}

function resolveReshape(input: number[], target: number[]): number[] {
  const out = target.map((d, i) => (d === 0 ? input[i] : d));
  if (input.every((d) => d > 0) && out.includes(-1)) {
    const total = input.reduce((p, d) => p * d, 1);
    const known = out.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
    out[out.indexOf(-1)] = total / known;
  }
  return out;
}
