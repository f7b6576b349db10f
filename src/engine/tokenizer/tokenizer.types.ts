// Shapes of the Hugging Face `tokenizers` JSON format (tokenizer.json) and the transformers side files
// (tokenizer_config.json, special_tokens_map.json) as far as this engine reads and writes them.

export type JsonRecord = Record<string, unknown>;

/** A regex or literal pattern, as `{"Regex": "..."}` or `{"String": "..."}`. */
export type PatternJson = { Regex: string } | { String: string };

export type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
  special?: boolean;
}

export interface WordLevelModelJson {
  type: 'WordLevel';
  vocab: Record<string, number>;
  unk_token: string;
}

export interface BpeModelJson {
  type: 'BPE';
  vocab: Record<string, number>;
  /** Legacy "a b" strings or, since tokenizers 0.20, ["a", "b"] pairs. */
  merges: Array<string | [string, string]>;
  unk_token?: string | null;
  continuing_subword_prefix?: string | null;
  end_of_word_suffix?: string | null;
  fuse_unk?: boolean;
  byte_fallback?: boolean;
  ignore_merges?: boolean;
  dropout?: number | null;
}

export type ModelJson = WordLevelModelJson | BpeModelJson | ({ type: string } & JsonRecord);

/** A component (normalizer, pre-tokenizer, post-processor, decoder) entry: `type` plus its fields. */
export type ComponentJson = { type: string } & JsonRecord;

export interface TemplatePieceJson {
  SpecialToken?: { id: string; type_id: number };
  Sequence?: { id: 'A' | 'B'; type_id: number };
}

export interface TokenizerJson {
  version: string;
  truncation: JsonRecord | null;
  padding: JsonRecord | null;
  added_tokens: AddedTokenJson[];
  normalizer: ComponentJson | null;
  pre_tokenizer: ComponentJson | null;
  post_processor: ComponentJson | null;
  decoder: ComponentJson | null;
  model: ModelJson;
}

/** A special token in transformers files: a bare string or an AddedToken-like object. */
export type SpecialTokenValue = string | { content: string; [key: string]: unknown };

export interface TokenizerConfigJson {
  tokenizer_class?: string;
  model_max_length?: number;
  bos_token?: SpecialTokenValue | null;
  eos_token?: SpecialTokenValue | null;
  unk_token?: SpecialTokenValue | null;
  pad_token?: SpecialTokenValue | null;
  [key: string]: unknown;
}

export type SpecialTokensMapJson = Partial<Record<'bos_token' | 'eos_token' | 'unk_token' | 'pad_token', SpecialTokenValue>> & JsonRecord;
