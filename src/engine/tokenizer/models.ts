// Tokenizer models: a pre-tokenized word → token ids.
import type { BpeModelJson, ModelJson, WordLevelModelJson } from './tokenizer.types';

export interface TokenizerModel {
  readonly type: string;
  /** Token ids of one pre-tokenized word. */
  tokenize(word: string): number[];
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** The model's vocabulary (token → id). */
  readonly vocab: ReadonlyMap<string, number>;
  readonly unkToken: string | null;
}

function toVocabMap(vocab: Record<string, number>): Map<string, number> {
  const map = new Map<string, number>();
  for (const [token, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id) || id < 0) throw new Error(`tokenizer: vocabulary id for ${JSON.stringify(token)} is not a non-negative integer`);
    map.set(token, id);
  }
  return map;
}

function reverse(vocab: Map<string, number>): Map<number, string> {
  const r = new Map<number, string>();
  for (const [t, id] of vocab) r.set(id, t);
  return r;
}

/** Whole-word lookup; words outside the vocabulary become the unknown token. */
export class WordLevelModel implements TokenizerModel {
  readonly type = 'WordLevel';
  readonly vocab: Map<string, number>;
  readonly unkToken: string;
  private readonly reversed: Map<number, string>;
  private readonly unkId: number | undefined;

  constructor(json: WordLevelModelJson) {
    this.vocab = toVocabMap(json.vocab);
    this.reversed = reverse(this.vocab);
    this.unkToken = json.unk_token;
    this.unkId = this.vocab.get(json.unk_token);
  }

  tokenize(word: string): number[] {
    const id = this.vocab.get(word);
    if (id !== undefined) return [id];
    if (this.unkId === undefined) throw new Error(`tokenizer: unknown token ${JSON.stringify(this.unkToken)} is missing from the vocabulary`);
    return [this.unkId];
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.reversed.get(id);
  }
}

const CACHE_LIMIT = 10_000;

/**
 * Byte-pair encoding. A word starts as its characters (the continuing-subword prefix on all but the
 * first, the end-of-word suffix on the last, e.g. CLIP's "</w>"); then the adjacent pair with the
 * lowest merge rank is merged, leftmost first, until no ranked pair remains.
 */
export class BpeModel implements TokenizerModel {
  readonly type = 'BPE';
  readonly vocab: Map<string, number>;
  readonly unkToken: string | null;
  readonly endOfWordSuffix: string;
  readonly continuingSubwordPrefix: string;
  private readonly reversed: Map<number, string>;
  private readonly merges = new Map<number, { rank: number; id: number }>();
  private readonly pairBase: number;
  private readonly fuseUnk: boolean;
  private readonly byteFallback: boolean;
  private readonly ignoreMerges: boolean;
  private readonly cache = new Map<string, number[]>();

  constructor(json: BpeModelJson) {
    this.vocab = toVocabMap(json.vocab);
    this.reversed = reverse(this.vocab);
    this.unkToken = json.unk_token ?? null;
    this.endOfWordSuffix = json.end_of_word_suffix ?? '';
    this.continuingSubwordPrefix = json.continuing_subword_prefix ?? '';
    this.fuseUnk = json.fuse_unk === true;
    this.byteFallback = json.byte_fallback === true;
    this.ignoreMerges = json.ignore_merges === true;
    let maxId = 0;
    for (const id of this.vocab.values()) maxId = Math.max(maxId, id);
    this.pairBase = maxId + 1;
    const prefixLen = this.continuingSubwordPrefix.length;
    (json.merges ?? []).forEach((merge, rank) => {
      let a: string;
      let b: string;
      if (Array.isArray(merge)) [a, b] = merge;
      else {
        const parts = merge.split(' ');
        if (parts.length !== 2) throw new Error(`tokenizer: merge ${JSON.stringify(merge)} is not two tokens`);
        [a, b] = parts;
      }
      const idA = this.vocab.get(a);
      const idB = this.vocab.get(b);
      const merged = a + b.slice(b.startsWith(this.continuingSubwordPrefix) ? prefixLen : 0);
      const id = this.vocab.get(merged);
      if (idA === undefined || idB === undefined || id === undefined) {
        throw new Error(`tokenizer: merge "${a} ${b}" refers to a token missing from the vocabulary`);
      }
      const key = idA * this.pairBase + idB;
      if (!this.merges.has(key)) this.merges.set(key, { rank, id });
    });
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.reversed.get(id);
  }

  tokenize(word: string): number[] {
    if (word.length === 0) return [];
    const cached = this.cache.get(word);
    if (cached) return cached;
    const ids = this.mergeWord(word);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }

  private initialSymbols(word: string): number[] {
    if (this.ignoreMerges) {
      const whole = this.vocab.get(word);
      if (whole !== undefined) return [whole];
    }
    const chars = [...word];
    const symbols: number[] = [];
    let pendingUnk = false;
    const unkId = this.unkToken !== null ? this.vocab.get(this.unkToken) : undefined;
    const flushUnk = () => {
      if (pendingUnk) symbols.push(unkId!);
      pendingUnk = false;
    };
    chars.forEach((c, i) => {
      let s = c;
      if (i > 0) s = this.continuingSubwordPrefix + s;
      if (i === chars.length - 1) s += this.endOfWordSuffix;
      const id = this.vocab.get(s);
      if (id !== undefined) {
        flushUnk();
        symbols.push(id);
        return;
      }
      if (this.byteFallback) {
        const bytes = [...new TextEncoder().encode(c)].map((b) => this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
        if (bytes.every((b) => b !== undefined)) {
          flushUnk();
          symbols.push(...(bytes as number[]));
          return;
        }
      }
      if (this.unkToken === null) return; // no unknown token: the character is dropped
      if (unkId === undefined) throw new Error(`tokenizer: unknown token ${JSON.stringify(this.unkToken)} is missing from the vocabulary`);
      if (pendingUnk && !this.fuseUnk) symbols.push(unkId);
      pendingUnk = true;
    });
    flushUnk();
    return symbols;
  }

  private mergeWord(word: string): number[] {
    const symbols = this.initialSymbols(word);
    // Merge ranks only grow along a merge chain, so merging the best-ranked leftmost pair one at a time
    // gives the same result as the classic "merge every occurrence of the best bigram" loop.
    for (;;) {
      let bestRank = Infinity;
      let bestPos = -1;
      let bestId = -1;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const m = this.merges.get(symbols[i] * this.pairBase + symbols[i + 1]);
        if (m && m.rank < bestRank) {
          bestRank = m.rank;
          bestPos = i;
          bestId = m.id;
        }
      }
      if (bestPos < 0) return symbols;
      symbols.splice(bestPos, 2, bestId);
    }
  }
}

export function createModel(json: ModelJson): TokenizerModel {
  switch (json.type) {
    case 'WordLevel':
      return new WordLevelModel(json as WordLevelModelJson);
    case 'BPE':
      return new BpeModel(json as BpeModelJson);
    default:
      // Files written before the "type" field existed are recognised by their fields.
      if (!json.type && 'merges' in json) return new BpeModel({ ...(json as unknown as BpeModelJson), type: 'BPE' });
      throw new Error(`tokenizer: model type "${json.type}" is not supported (supported: WordLevel, BPE)`);
  }
}
