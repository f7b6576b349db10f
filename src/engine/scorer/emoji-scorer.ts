import * as fsp from 'fs/promises';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { EMOJI_STYLES, normalizeHexcode, type EmojiStyle } from './emoji-styles';
import { readSafetensorsFile } from '../io/safetensors';
import { ParamMap } from '../models/param-init';
import { createSession, ExecutionProviderChoice } from '../onnx/ort-session';
import { resizeBilinear } from '../pipeline/image-resize';
import { buildScorerInferenceModel } from './scorer-graph';
import { parseScorerConfig, ScorerConfig, scorerParamShapes } from './scorer.model';

export const BUNDLED_SCORER_NAME = 'emoji-scorer';

/** `config.json` of a scorer folder: the architecture plus what the heads mean and how inputs are encoded. */
export interface EmojiScorerFileConfig extends ScorerConfig {
  /** Style head order. */
  styles: EmojiStyle[];
  /**
   * Name of the style head's rejection class ("none of these styles"): a `reject_head` logit appended to
   * the style logits, in the same softmax. Trained on degraded and off-style images, so that an image that
   * stops looking like one style does not hand its probability to another.
   */
  reject_class?: string;
  /** Concept head order (emojibase hexcodes without FE0F). */
  concept_ids: string[];
  concept_labels?: string[];
  normalization: { layout: 'CHW'; channels: 'RGB'; range: [number, number]; background: 'white' };
  [extra: string]: unknown;
}

export interface EmojiScorerOptions {
  intraOpThreads?: number;
  executionProvider?: ExecutionProviderChoice;
  /** Images per session call (default 256). */
  batchSize?: number;
}

export interface ConceptScore {
  conceptId: string;
  probability: number;
  logit: number;
}

/** The scorer's verdict on one image. */
export class ScoredImage {
  /** Probability of each style; with a rejection class these sum to 1 − noneProbability. */
  readonly styleProbabilities: Record<EmojiStyle, number>;
  /** Probability of the rejection class ("none of these styles"); 0 for scorers without one. */
  readonly noneProbability: number;
  readonly conceptProbabilities: Float32Array;

  constructor(
    private readonly scorer: EmojiScorer,
    readonly styleLogits: Float32Array,
    readonly conceptLogits: Float32Array,
    /** Pooled features the heads read ([C]). */
    readonly features: Float32Array = new Float32Array(0),
    /** Multi-scale statistics the rejection head reads. */
    readonly rejectFeatures: Float32Array = new Float32Array(0),
  ) {
    const sp = softmax(styleLogits);
    this.styleProbabilities = Object.fromEntries(EMOJI_STYLES.map((s) => [s, 0])) as Record<EmojiStyle, number>;
    scorer.styles.forEach((s, i) => (this.styleProbabilities[s] = sp[i]));
    this.noneProbability = scorer.rejectClass ? sp[scorer.styles.length] : 0;
    this.conceptProbabilities = softmax(conceptLogits);
  }

  /** The most likely style, or 'none' when the rejection class wins. */
  get predictedStyle(): EmojiStyle | 'none' {
    let best = 0;
    for (let i = 1; i < this.styleLogits.length; i++) if (this.styleLogits[i] > this.styleLogits[best]) best = i;
    return best < this.scorer.styles.length ? this.scorer.styles[best] : 'none';
  }

  probabilityOf(conceptId: string): number {
    return this.conceptProbabilities[this.scorer.conceptIndex(conceptId)];
  }

  /** 1 for the most likely concept; ties count in the concept's favour. */
  rankOf(conceptId: string): number {
    const z = this.conceptLogits[this.scorer.conceptIndex(conceptId)];
    let rank = 1;
    for (let i = 0; i < this.conceptLogits.length; i++) if (this.conceptLogits[i] > z) rank++;
    return rank;
  }

  inTopK(conceptId: string, k: number): boolean {
    return this.rankOf(conceptId) <= k;
  }

  topK(k: number): ConceptScore[] {
    const order = Array.from(this.conceptLogits.keys()).sort((a, b) => this.conceptLogits[b] - this.conceptLogits[a] || a - b);
    return order.slice(0, k).map((i) => ({
      conceptId: this.scorer.conceptIds[i],
      probability: this.conceptProbabilities[i],
      logit: this.conceptLogits[i],
    }));
  }
}

/**
 * The evaluation scorer on ONNX Runtime: style probabilities and concept scores for RGB images encoded as
 * the rest of the engine does (CHW, [-1, 1], white background).
 */
export class EmojiScorer {
  readonly styles: EmojiStyle[];
  /** The style head's rejection class, when it has one. */
  readonly rejectClass: string | undefined;
  readonly conceptIds: string[];
  private readonly index: Map<string, number>;

  private constructor(
    readonly config: EmojiScorerFileConfig,
    private readonly session: ort.InferenceSession,
    private readonly batchSize: number,
  ) {
    this.styles = config.styles;
    this.rejectClass = config.reject_class;
    this.conceptIds = config.concept_ids;
    this.index = new Map(config.concept_ids.map((id, i) => [id, i]));
  }

  get imageSize(): number {
    return this.config.image_size;
  }

  /** MODELS_DIR (default ./models)/emoji-scorer. */
  static defaultDir(modelsDir = process.env.MODELS_DIR ?? 'models'): string {
    return path.resolve(modelsDir, BUNDLED_SCORER_NAME);
  }

  /** Loads `config.json` + `model.safetensors` (fp16 or fp32) from a scorer folder. */
  static async load(dir = EmojiScorer.defaultDir(), opts: EmojiScorerOptions = {}): Promise<EmojiScorer> {
    let raw: string;
    try {
      raw = await fsp.readFile(path.join(dir, 'config.json'), 'utf8');
    } catch {
      throw new Error(`no scorer at ${dir}: train one with node dist/src/cli/train-scorer.cli.js`);
    }
    const config = parseScorerFileConfig(JSON.parse(raw) as Record<string, unknown>);
    const file = await readSafetensorsFile(path.join(dir, 'model.safetensors'));
    const params: ParamMap = new Map();
    for (const [name, shape] of scorerParamShapes(config)) {
      const t = file.tensors.get(name);
      if (!t) throw new Error(`scorer weights lack ${name}`);
      if (t.shape.join(',') !== shape.join(',')) throw new Error(`scorer weight ${name} has shape [${t.shape}], expected [${shape}]`);
      params.set(name, { shape, data: t.data });
    }
    return EmojiScorer.fromParams(config, params, opts);
  }

  static async fromParams(config: EmojiScorerFileConfig, params: ParamMap, opts: EmojiScorerOptions = {}): Promise<EmojiScorer> {
    if (config.concept_ids.length !== config.num_concepts) throw new Error('scorer config: concept_ids does not match num_concepts');
    if (config.styles.length !== config.num_styles) throw new Error('scorer config: styles does not match num_styles');
    const { session } = await createSession(buildScorerInferenceModel(config, params), {
      intraOpThreads: opts.intraOpThreads,
      executionProvider: opts.executionProvider,
    });
    return new EmojiScorer(config, session, opts.batchSize ?? 256);
  }

  hasConcept(conceptId: string): boolean {
    return this.index.has(normalizeHexcode(conceptId));
  }

  /** Head index of a concept; accepts hexcodes with or without FE0F and in any case. */
  conceptIndex(conceptId: string): number {
    const i = this.index.get(normalizeHexcode(conceptId));
    if (i === undefined) throw new Error(`the scorer does not know concept ${conceptId}`);
    return i;
  }

  /**
   * Scores images given one CHW array each (3 × size × size, [-1, 1]) or packed into one array. Other sizes
   * are resized bilinearly to the scorer's input size.
   */
  async scoreBatch(images: readonly Float32Array[] | Float32Array, size = this.imageSize): Promise<ScoredImage[]> {
    const per = 3 * size * size;
    let list: Float32Array[];
    if (images instanceof Float32Array) {
      if (images.length % per !== 0) throw new Error(`packed images are not a multiple of 3×${size}×${size}`);
      list = Array.from({ length: images.length / per }, (_, i) => images.subarray(i * per, (i + 1) * per));
    } else {
      list = images.slice();
    }
    for (const img of list) if (img.length !== per) throw new Error(`an image has ${img.length} values, expected 3×${size}×${size}`);
    const s = this.imageSize;
    const inputs = size === s ? list : list.map((img) => resizeBilinear(img, size, s));
    const out: ScoredImage[] = [];
    const k = this.config.num_concepts;
    const ns = this.config.num_styles + (this.rejectClass ? 1 : 0);
    for (let start = 0; start < inputs.length; start += this.batchSize) {
      const chunk = inputs.slice(start, start + this.batchSize);
      const packed = new Float32Array(chunk.length * 3 * s * s);
      chunk.forEach((img, i) => packed.set(img, i * 3 * s * s));
      const res = await this.session.run({ images: new ort.Tensor('float32', packed, [chunk.length, 3, s, s]) });
      const styleLogits = res.style_logits.data as Float32Array;
      const conceptLogits = res.concept_logits.data as Float32Array;
      const features = res.features.data as Float32Array;
      const rf = res.reject_features.data as Float32Array;
      const c = features.length / chunk.length;
      const d = rf.length / chunk.length;
      for (let i = 0; i < chunk.length; i++) {
        out.push(
          new ScoredImage(this, styleLogits.slice(i * ns, (i + 1) * ns), conceptLogits.slice(i * k, (i + 1) * k), features.slice(i * c, (i + 1) * c), rf.slice(i * d, (i + 1) * d)),
        );
      }
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export function parseScorerFileConfig(json: Record<string, unknown>): EmojiScorerFileConfig {
  const cfg = parseScorerConfig(json);
  const styles = json.styles;
  const ids = json.concept_ids;
  if (!Array.isArray(styles) || styles.some((s) => !EMOJI_STYLES.includes(s as EmojiStyle))) throw new Error('scorer config: styles must list known styles');
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) throw new Error('scorer config: concept_ids must be strings');
  if (json.reject_class !== undefined && typeof json.reject_class !== 'string') throw new Error('scorer config: reject_class must be a string');
  return {
    ...json,
    ...cfg,
    styles: styles as EmojiStyle[],
    concept_ids: ids as string[],
    normalization: (json.normalization as EmojiScorerFileConfig['normalization']) ?? SCORER_NORMALIZATION,
  };
}

export const SCORER_NORMALIZATION: EmojiScorerFileConfig['normalization'] = { layout: 'CHW', channels: 'RGB', range: [-1, 1], background: 'white' };

function softmax(z: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of z) if (v > max) max = v;
  const out = new Float32Array(z.length);
  let sum = 0;
  for (let i = 0; i < z.length; i++) sum += out[i] = Math.exp(z[i] - max);
  for (let i = 0; i < z.length; i++) out[i] /= sum;
  return out;
}
