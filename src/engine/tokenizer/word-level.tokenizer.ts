// The word-level tokenizer of the project's own base model, written in the tokenizers JSON format so
// that Hugging Face `tokenizers` / transformers' PreTrainedTokenizerFast load the same folder.
//
// Layout of the id space (chosen to mirror CLIP where it matters):
//   0            <|pad|>           padding (attention mask 0); a distinct token so padding never looks
//                                  like text or like the end of a caption
//   1            [UNK]             words outside the vocabulary
//   2 … V+1      caption words     most frequent first
//   V+2          <|startoftext|>   BOS
//   V+3          <|endoftext|>     EOS, the highest id as in CLIP, so CLIPTextModel's pooled output
//                                  finds it whether it looks up eos_token_id or takes the argmax id
// Text is NFKD-normalized with accents stripped ("piñata" → "pinata", on by default) or NFC-normalized,
// lower-cased, and split into runs of word characters and runs of punctuation (the `Whitespace`
// pre-tokenizer), so "Red Heart, love!" → red · heart · , · love · !
import * as path from 'node:path';
import { writeFileAtomic } from '../io/atomic-write';
import { Tokenizer } from './tokenizer';
import { createNormalizer } from './normalizers';
import { createPreTokenizer } from './pre-tokenizers';
import type { AddedTokenJson, ComponentJson, SpecialTokensMapJson, TokenizerConfigJson, TokenizerJson } from './tokenizer.types';

export const WORD_LEVEL_DEFAULTS = {
  padToken: '<|pad|>',
  unkToken: '[UNK]',
  bosToken: '<|startoftext|>',
  eosToken: '<|endoftext|>',
  modelMaxLength: 77,
  stripAccents: true,
} as const;

export interface WordLevelTokenizerOptions {
  padToken?: string;
  unkToken?: string;
  bosToken?: string;
  eosToken?: string;
  modelMaxLength?: number;
  /** Fold accents (NFKD + StripAccents) before lower-casing; otherwise NFC only. Default true. */
  stripAccents?: boolean;
}

export interface TokenizerFiles {
  'tokenizer.json': TokenizerJson;
  'tokenizer_config.json': TokenizerConfigJson;
  'special_tokens_map.json': SpecialTokensMapJson;
}

export interface BuiltTokenizer {
  files: TokenizerFiles;
  tokenizer: Tokenizer;
  specialTokenIds: { pad: number; unk: number; bos: number; eos: number };
}

function normalizerJson(stripAccents: boolean): ComponentJson {
  const normalizers = stripAccents ? [{ type: 'NFKD' }, { type: 'StripAccents' }, { type: 'Lowercase' }] : [{ type: 'NFC' }, { type: 'Lowercase' }];
  return { type: 'Sequence', normalizers };
}

const PRE_TOKENIZER: ComponentJson = { type: 'Whitespace' };

/** Splits text into words exactly as the built tokenizer does. */
export function wordLevelWords(text: string, opts: { stripAccents?: boolean } = {}): string[] {
  const normalize = createNormalizer(normalizerJson(opts.stripAccents ?? WORD_LEVEL_DEFAULTS.stripAccents));
  return createPreTokenizer(PRE_TOKENIZER)(normalize(text));
}

export interface VocabularyOptions {
  stripAccents?: boolean;
  /** Keep at most this many words (the most frequent). */
  maxSize?: number;
}

/**
 * Words occurring at least `minCount` times across the captions, most frequent first (ties in code
 * point order, so the result is deterministic). Special-token strings are never included.
 */
export function buildVocabulary(captions: readonly string[], minCount = 1, opts: VocabularyOptions = {}): string[] {
  const normalize = createNormalizer(normalizerJson(opts.stripAccents ?? WORD_LEVEL_DEFAULTS.stripAccents));
  const split = createPreTokenizer(PRE_TOKENIZER);
  const counts = new Map<string, number>();
  for (const caption of captions) for (const w of split(normalize(caption))) counts.set(w, (counts.get(w) ?? 0) + 1);
  const specials = new Set<string>([WORD_LEVEL_DEFAULTS.padToken, WORD_LEVEL_DEFAULTS.unkToken, WORD_LEVEL_DEFAULTS.bosToken, WORD_LEVEL_DEFAULTS.eosToken]);
  const words = [...counts.entries()]
    .filter(([w, c]) => c >= minCount && !specials.has(w))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([w]) => w);
  return opts.maxSize !== undefined ? words.slice(0, opts.maxSize) : words;
}

/** Builds tokenizer.json, tokenizer_config.json and special_tokens_map.json for a word vocabulary. */
export function buildWordLevelTokenizer(vocabWords: readonly string[], opts: WordLevelTokenizerOptions = {}): BuiltTokenizer {
  const pad = opts.padToken ?? WORD_LEVEL_DEFAULTS.padToken;
  const unk = opts.unkToken ?? WORD_LEVEL_DEFAULTS.unkToken;
  const bos = opts.bosToken ?? WORD_LEVEL_DEFAULTS.bosToken;
  const eos = opts.eosToken ?? WORD_LEVEL_DEFAULTS.eosToken;
  const stripAccents = opts.stripAccents ?? WORD_LEVEL_DEFAULTS.stripAccents;
  const modelMaxLength = opts.modelMaxLength ?? WORD_LEVEL_DEFAULTS.modelMaxLength;
  const specials = [pad, unk, bos, eos];
  if (new Set(specials).size !== 4) throw new Error('tokenizer: pad, unk, bos and eos tokens must differ');

  // Every word must be something the pipeline can produce, or it could never be looked up.
  const words: string[] = [];
  const seen = new Set<string>(specials);
  const unreachable: string[] = [];
  for (const w of vocabWords) {
    if (seen.has(w)) continue;
    const split = wordLevelWords(w, { stripAccents });
    if (split.length !== 1 || split[0] !== w) unreachable.push(w);
    else {
      seen.add(w);
      words.push(w);
    }
  }
  if (unreachable.length > 0) {
    throw new Error(`tokenizer: vocabulary words the tokenizer can never produce: ${unreachable.slice(0, 10).map((w) => JSON.stringify(w)).join(', ')}`);
  }

  const vocab: Record<string, number> = {};
  vocab[pad] = 0;
  vocab[unk] = 1;
  words.forEach((w, i) => (vocab[w] = i + 2));
  const bosId = words.length + 2;
  const eosId = words.length + 3;
  vocab[bos] = bosId;
  vocab[eos] = eosId;

  const added = (id: number, content: string): AddedTokenJson => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const addedTokens = [added(0, pad), added(1, unk), added(bosId, bos), added(eosId, eos)];
  const tokenizerJson: TokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: normalizerJson(stripAccents),
    pre_tokenizer: PRE_TOKENIZER,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: eos, type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bos, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: eos, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: eos, type_id: 1 } },
      ],
      special_tokens: {
        [bos]: { id: bos, ids: [bosId], tokens: [bos] },
        [eos]: { id: eos, ids: [eosId], tokens: [eos] },
      },
    },
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: unk },
  };
  const specialTokensMap: SpecialTokensMapJson = { bos_token: bos, eos_token: eos, pad_token: pad, unk_token: unk };
  const addedTokensDecoder: Record<string, unknown> = {};
  for (const t of addedTokens) {
    addedTokensDecoder[String(t.id)] = { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  }
  const tokenizerConfig: TokenizerConfigJson = {
    added_tokens_decoder: addedTokensDecoder,
    bos_token: bos,
    clean_up_tokenization_spaces: false,
    eos_token: eos,
    model_input_names: ['input_ids', 'attention_mask'],
    model_max_length: modelMaxLength,
    pad_token: pad,
    tokenizer_class: 'PreTrainedTokenizerFast',
    unk_token: unk,
  };
  const tokenizer = new Tokenizer(tokenizerJson, { modelMaxLength, tokenizerClass: 'PreTrainedTokenizerFast', specialTokens: { bos, eos, unk, pad } });
  return {
    files: { 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': tokenizerConfig, 'special_tokens_map.json': specialTokensMap },
    tokenizer,
    specialTokenIds: { pad: 0, unk: 1, bos: bosId, eos: eosId },
  };
}

/**
 * tokenizer.json text with the vocabulary in id order (JSON.stringify would move integer-like words
 * such as "1" to the front), pretty-printed like the reference writer.
 */
export function serializeTokenizerJson(json: TokenizerJson): string {
  const vocab = (json.model as { vocab?: Record<string, number> }).vocab;
  if (!vocab) return `${JSON.stringify(json, null, 2)}\n`;
  const marker = '"__VOCAB_IN_ID_ORDER__"';
  const text = JSON.stringify({ ...json, model: { ...json.model, vocab: '__VOCAB_IN_ID_ORDER__' } }, null, 2);
  const entries = Object.entries(vocab).sort((a, b) => a[1] - b[1]);
  const body = entries.length === 0 ? '{}' : `{\n${entries.map(([t, id]) => `      ${JSON.stringify(t)}: ${id}`).join(',\n')}\n    }`;
  return `${text.replace(marker, () => body)}\n`;
}

/** Writes the tokenizer files into a directory (e.g. `<model>/tokenizer`), each atomically. */
export async function writeTokenizerFiles(dir: string, files: TokenizerFiles): Promise<void> {
  await writeFileAtomic(path.join(dir, 'tokenizer.json'), serializeTokenizerJson(files['tokenizer.json']));
  await writeFileAtomic(path.join(dir, 'tokenizer_config.json'), `${JSON.stringify(files['tokenizer_config.json'], null, 2)}\n`);
  await writeFileAtomic(path.join(dir, 'special_tokens_map.json'), `${JSON.stringify(files['special_tokens_map.json'], null, 2)}\n`);
}
