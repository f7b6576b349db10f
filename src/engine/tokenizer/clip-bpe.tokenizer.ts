// CLIP's byte-level BPE tokenizer (openai/clip-vit-large-patch14, used by Stable Diffusion 1.x).
// Folders that ship tokenizer.json load through the generic pipeline; folders with only the original
// vocab.json + merges.txt (e.g. SD-1.5's tokenizer/) are converted here to a tokenizer.json description
// equivalent to the one transformers' converter produces, so both load identically. (ByteLevel's own
// GPT-2 split is off: after CLIP's split no piece contains a space, so it could not split further.)
import type { TokenizerJson } from './tokenizer.types';

export const CLIP_BOS_TOKEN = '<|startoftext|>';
export const CLIP_EOS_TOKEN = '<|endoftext|>';
export const CLIP_MODEL_MAX_LENGTH = 77;
export const CLIP_END_OF_WORD_SUFFIX = '</w>';
/** Word-splitting pattern of CLIP (contractions, letter runs, single digits, other non-space runs). */
export const CLIP_SPLIT_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";
/** CLIP uses only the first 49152 - 256 - 2 merges of its merges file. */
export const CLIP_MERGE_LIMIT = 49152 - 256 - 2;

/**
 * Merges from a merges.txt. Like the original CLIP tokenizer, the first line (the "#version" header)
 * is skipped and at most `limit` merges are used.
 */
export function parseMergesTxt(text: string, limit = CLIP_MERGE_LIMIT): string[] {
  return text
    .trim()
    .split('\n')
    .slice(1, 1 + limit)
    .map((line) => line.trim().split(/\s+/).join(' '))
    .filter((line) => line.length > 0);
}

export interface ClipTokenizerJsonOptions {
  bosToken?: string;
  eosToken?: string;
  unkToken?: string;
}

/** The tokenizer.json description of a CLIP tokenizer with the given vocabulary and merges. */
export function buildClipTokenizerJson(vocab: Record<string, number>, merges: string[], opts: ClipTokenizerJsonOptions = {}): TokenizerJson {
  const bos = opts.bosToken ?? CLIP_BOS_TOKEN;
  const eos = opts.eosToken ?? CLIP_EOS_TOKEN;
  const unk = opts.unkToken ?? CLIP_EOS_TOKEN;
  const idOf = (token: string): number => {
    const id = vocab[token];
    if (id === undefined) throw new Error(`tokenizer: CLIP vocabulary lacks ${token}`);
    return id;
  };
  const special = (content: string) => ({ id: idOf(content), content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...new Set([bos, eos])].map(special).sort((a, b) => a.id - b.id),
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT_PATTERN }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [eos, idOf(eos)], cls: [bos, idOf(bos)], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: '',
      end_of_word_suffix: CLIP_END_OF_WORD_SUFFIX,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}
