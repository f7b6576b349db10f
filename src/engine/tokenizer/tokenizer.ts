// A tokenizer assembled from a tokenizers-format description (tokenizer.json), running the reference
// pipeline: added/special tokens are cut out first, the rest is normalized, pre-tokenized into words,
// tokenized by the model (WordLevel or BPE), and the post-processor adds BOS/EOS.
import { createDecoder, type Decoder } from './decoders';
import { BpeModel, createModel, type TokenizerModel } from './models';
import { createNormalizer, type Normalizer } from './normalizers';
import { createPostProcessor, type PostProcessor } from './post-processors';
import { createPreTokenizer, type PreTokenizer } from './pre-tokenizers';
import type { AddedTokenJson, TokenizerJson } from './tokenizer.types';
import { isWhitespace, WORD_CLASS } from './unicode.util';

export interface SpecialTokenNames {
  bos?: string | null;
  eos?: string | null;
  unk?: string | null;
  pad?: string | null;
}

export interface TokenizerOptions {
  /** Longest sequence the text model accepts (CLIP: 77); the default for batch padding and truncation. */
  modelMaxLength?: number;
  specialTokens?: SpecialTokenNames;
  /** transformers class name from tokenizer_config.json, kept for reference. */
  tokenizerClass?: string;
}

export interface EncodeOptions {
  /** Add the post-processor's special tokens (BOS/EOS); default true. */
  addSpecialTokens?: boolean;
  /** With truncation, the longest result including special tokens. */
  maxLength?: number;
  truncation?: boolean;
}

export type IdDType = 'int32' | 'int64';

export interface BatchEncodeOptions {
  /** Sequence length of the batch; defaults to the model max length. */
  maxLength?: number;
  /** 'max_length' pads every row to maxLength (default), 'longest' to the longest row, false never pads. */
  padding?: 'max_length' | 'longest' | false;
  /** Cut rows longer than maxLength, keeping the special tokens (default true). */
  truncation?: boolean;
  addSpecialTokens?: boolean;
  /** Element type of the returned arrays: int32 (tfjs) or int64 (ONNX text encoders). Default int32. */
  dtype?: IdDType;
}

export interface BatchEncoding<T extends Int32Array | BigInt64Array = Int32Array> {
  /** Row-major [batchSize, sequenceLength]. */
  inputIds: T;
  /** 1 for real tokens (special tokens included), 0 for padding. */
  attentionMask: T;
  batchSize: number;
  sequenceLength: number;
  /** Unpadded length of each row. */
  lengths: number[];
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
}

interface AddedToken {
  id: number;
  content: string;
  /** The string matched in text (normalized content for normalized tokens). */
  match: string;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

type Piece = { text: string } | { id: number };

const WORD_CHAR = new RegExp(`^[${WORD_CLASS}]$`, 'u');
/** Only punctuation (a comma between caption parts): not a word. */
const PUNCTUATION = /^\p{P}+$/u;

/** Cuts added tokens out of text, leftmost-longest, honouring lstrip/rstrip/single_word. */
function splitOnAddedTokens(text: string, tokens: AddedToken[]): Piece[] {
  if (tokens.length === 0 || text.length === 0) return text.length > 0 ? [{ text }] : [];
  const out: Piece[] = [];
  let pending = '';
  let i = 0;
  while (i < text.length) {
    let best: AddedToken | null = null;
    for (const t of tokens) {
      if (t.match.length > 0 && (!best || t.match.length > best.match.length) && text.startsWith(t.match, i)) {
        if (t.singleWord) {
          // Only a whole word: no word character directly before or after the match.
          const before = i > 0 ? text[i - 1] : '';
          const after = text[i + t.match.length] ?? '';
          if (WORD_CHAR.test(before) || WORD_CHAR.test(after)) continue;
        }
        best = t;
      }
    }
    if (!best) {
      pending += text[i];
      i++;
      continue;
    }
    if (best.lstrip) pending = pending.replace(/\s+$/u, '');
    if (pending) out.push({ text: pending });
    pending = '';
    out.push({ id: best.id });
    i += best.match.length;
    if (best.rstrip) while (i < text.length && isWhitespace(text[i])) i++;
  }
  if (pending) out.push({ text: pending });
  return out;
}

export class Tokenizer {
  readonly json: TokenizerJson;
  readonly model: TokenizerModel;
  readonly modelMaxLength: number | undefined;
  readonly tokenizerClass: string | undefined;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly unkToken: string | undefined;
  readonly padToken: string | undefined;

  private readonly normalizer: Normalizer;
  private readonly preTokenizer: PreTokenizer;
  private readonly postProcessor: PostProcessor;
  private readonly decoder: Decoder;
  private readonly addedTokens: AddedToken[] = [];
  private readonly addedById = new Map<number, AddedToken>();
  private readonly addedByContent = new Map<string, AddedToken>();

  constructor(json: TokenizerJson, opts: TokenizerOptions = {}) {
    this.json = json;
    this.model = createModel(json.model);
    this.normalizer = createNormalizer(json.normalizer);
    this.preTokenizer = createPreTokenizer(json.pre_tokenizer);
    this.postProcessor = createPostProcessor(json.post_processor);
    this.decoder = createDecoder(json.decoder);
    this.modelMaxLength = opts.modelMaxLength;
    this.tokenizerClass = opts.tokenizerClass;
    for (const t of json.added_tokens ?? []) this.registerAddedToken(t);

    const special = opts.specialTokens ?? {};
    const resolve = (name: string | null | undefined): string | undefined => {
      if (!name) return undefined;
      // A special token the vocabulary lacks gets the next free id, as transformers does when loading.
      if (this.tokenToId(name) === undefined) this.registerAddedToken({ id: this.vocabSize, content: name, special: true, normalized: false });
      return name;
    };
    this.bosToken = resolve(special.bos);
    this.eosToken = resolve(special.eos);
    this.unkToken = resolve(special.unk ?? this.model.unkToken);
    this.padToken = resolve(special.pad);
  }

  private registerAddedToken(t: AddedTokenJson): void {
    const normalized = t.normalized ?? !t.special;
    const token: AddedToken = {
      id: t.id,
      content: t.content,
      match: normalized ? this.normalizer(t.content) : t.content,
      singleWord: t.single_word === true,
      lstrip: t.lstrip === true,
      rstrip: t.rstrip === true,
      normalized,
      special: t.special === true,
    };
    this.addedTokens.push(token);
    this.addedById.set(token.id, token);
    this.addedByContent.set(token.content, token);
  }

  /** Size of the id space: model vocabulary plus added tokens (ids 0 … vocabSize-1). */
  get vocabSize(): number {
    let max = -1;
    for (const id of this.model.vocab.values()) if (id > max) max = id;
    for (const id of this.addedById.keys()) if (id > max) max = id;
    return max + 1;
  }

  get bosTokenId(): number | undefined {
    return this.bosToken === undefined ? undefined : this.tokenToId(this.bosToken);
  }
  get eosTokenId(): number | undefined {
    return this.eosToken === undefined ? undefined : this.tokenToId(this.eosToken);
  }
  get unkTokenId(): number | undefined {
    return this.unkToken === undefined ? undefined : this.tokenToId(this.unkToken);
  }
  get padTokenId(): number | undefined {
    return this.padToken === undefined ? undefined : this.tokenToId(this.padToken);
  }
  /** Special tokens the post-processor adds to one sequence. */
  get numSpecialTokensToAdd(): number {
    return this.postProcessor.addedTokens;
  }

  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.model.tokenToId(token);
  }

  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.model.idToToken(id);
  }

  /** The normalizer alone (what vocabulary building must apply to captions). */
  normalize(text: string): string {
    return this.normalizer(text);
  }

  /** Normalizer then pre-tokenizer: the words the model sees (added tokens are not cut out here). */
  preTokenize(text: string): string[] {
    return this.preTokenizer(this.normalizer(text));
  }

  /** The text as the model reads it: added tokens (cut out first) and pre-tokenized words with their ids. */
  private *segments(text: string): Generator<{ id: number } | { word: string; ids: number[] }> {
    const raw = this.addedTokens.filter((t) => !t.normalized);
    const normalizedTokens = this.addedTokens.filter((t) => t.normalized);
    for (const piece of splitOnAddedTokens(text, raw)) {
      if ('id' in piece) {
        yield piece;
        continue;
      }
      for (const sub of splitOnAddedTokens(this.normalizer(piece.text), normalizedTokens)) {
        if ('id' in sub) yield sub;
        else for (const word of this.preTokenizer(sub.text)) yield { word, ids: this.model.tokenize(word) };
      }
    }
  }

  private encodeRaw(text: string): number[] {
    const ids: number[] = [];
    for (const segment of this.segments(text)) {
      if ('word' in segment) ids.push(...segment.ids);
      else ids.push(segment.id);
    }
    return ids;
  }

  /**
   * Words of a text the model cannot represent: pre-tokenized words (as normalized) whose tokens include
   * the unknown token, each once, in order. A word-level model lists every word outside its
   * vocabulary (symbols such as emoji included); byte-level or byte-fallback BPE spells any word, so its
   * list is empty. Punctuation is not a word: it is left out even where it maps to the unknown token.
   */
  unknownWords(text: string): string[] {
    const unk = this.unkTokenId;
    const words = new Set<string>();
    if (unk === undefined) return [];
    for (const segment of this.segments(text)) {
      if ('word' in segment && segment.ids.includes(unk) && !PUNCTUATION.test(segment.word)) words.add(segment.word);
    }
    return [...words];
  }

  /** Token strings of a text, without special tokens (e.g. ["hello</w>", "wor", "ld</w>"]). */
  tokenize(text: string): string[] {
    return this.encodeRaw(text).map((id) => this.idToToken(id) ?? '');
  }

  /** Token ids of a text: BOS/EOS per the post-processor, optional truncation that keeps them. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const addSpecial = opts.addSpecialTokens !== false;
    let ids = this.encodeRaw(text);
    const maxLength = opts.maxLength ?? (opts.truncation ? this.modelMaxLength : undefined);
    if (opts.truncation && maxLength !== undefined) {
      const room = maxLength - (addSpecial ? this.postProcessor.addedTokens : 0);
      if (room < 0) throw new Error(`tokenizer: maxLength ${maxLength} leaves no room for the special tokens`);
      if (ids.length > room) ids = ids.slice(0, room);
    }
    return addSpecial ? this.postProcessor.process(ids) : ids;
  }

  /** Encodes a batch into flat [N, L] id and attention-mask arrays, padded with the pad token. */
  encodeBatch(texts: readonly string[], opts?: BatchEncodeOptions & { dtype?: 'int32' }): BatchEncoding<Int32Array>;
  encodeBatch(texts: readonly string[], opts: BatchEncodeOptions & { dtype: 'int64' }): BatchEncoding<BigInt64Array>;
  encodeBatch(texts: readonly string[], opts: BatchEncodeOptions = {}): BatchEncoding<Int32Array> | BatchEncoding<BigInt64Array> {
    const padding = opts.padding ?? 'max_length';
    const truncation = opts.truncation !== false;
    const maxLength = opts.maxLength ?? this.modelMaxLength;
    if (padding === 'max_length' && maxLength === undefined) throw new Error('tokenizer: padding to max_length needs maxLength (none given, no model_max_length)');
    const rows = texts.map((t) =>
      this.encode(t, { addSpecialTokens: opts.addSpecialTokens, truncation: truncation && maxLength !== undefined, maxLength }),
    );
    const lengths = rows.map((r) => r.length);
    const longest = lengths.reduce((a, b) => Math.max(a, b), 0);
    const sequenceLength = padding === 'max_length' ? maxLength! : longest;
    if (longest > sequenceLength) {
      throw new Error(`tokenizer: a sequence of ${longest} tokens exceeds maxLength ${sequenceLength} (enable truncation)`);
    }
    if (padding === false && lengths.some((l) => l !== longest)) {
      throw new Error('tokenizer: rows differ in length and padding is off');
    }
    const needsPad = lengths.some((l) => l < sequenceLength);
    const padId = this.padTokenId;
    if (needsPad && padId === undefined) throw new Error('tokenizer: padding needs a pad token, and none is configured');

    const n = texts.length * sequenceLength;
    const ids = new Int32Array(n);
    const mask = new Int32Array(n);
    rows.forEach((row, r) => {
      const base = r * sequenceLength;
      for (let j = 0; j < sequenceLength; j++) {
        if (j < row.length) {
          ids[base + j] = row[j];
          mask[base + j] = 1;
        } else {
          ids[base + j] = padId!;
        }
      }
    });
    const common = { batchSize: texts.length, sequenceLength, lengths };
    if (opts.dtype === 'int64') {
      return { ...common, inputIds: BigInt64Array.from(ids, (v) => BigInt(v)), attentionMask: BigInt64Array.from(mask, (v) => BigInt(v)) };
    }
    return { ...common, inputIds: ids, attentionMask: mask };
  }

  /** Text of token ids (CLIP-style "</w>" word ends become spaces, as the fast CLIP tokenizer does). */
  decode(ids: ArrayLike<number | bigint>, opts: DecodeOptions = {}): string {
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = Number(ids[i]);
      const added = this.addedById.get(id);
      if (added && added.special && opts.skipSpecialTokens) continue;
      const token = this.idToToken(id);
      if (token !== undefined) tokens.push(token);
    }
    let text = this.decoder(tokens).join('');
    const suffix = this.model instanceof BpeModel ? this.model.endOfWordSuffix : '';
    if (suffix && this.json.decoder?.type !== 'BPEDecoder') text = text.split(suffix).join(' ').trim();
    return text;
  }
}
