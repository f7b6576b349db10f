// Loads a tokenizer from a diffusers model folder's tokenizer/ directory (or the directory itself):
// tokenizer.json plus tokenizer_config.json / special_tokens_map.json where present, or, for CLIP
// folders without tokenizer.json, the original vocab.json + merges.txt.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { buildClipTokenizerJson, CLIP_BOS_TOKEN, CLIP_EOS_TOKEN, parseMergesTxt } from './clip-bpe.tokenizer';
import { Tokenizer } from './tokenizer';
import type { SpecialTokensMapJson, SpecialTokenValue, TokenizerConfigJson, TokenizerJson } from './tokenizer.types';

export interface TokenizerSources {
  tokenizerJson?: TokenizerJson;
  tokenizerConfig?: TokenizerConfigJson;
  specialTokensMap?: SpecialTokensMapJson;
  /** Original CLIP files, used when there is no tokenizer.json. */
  vocabJson?: Record<string, number>;
  mergesTxt?: string;
}

/** transformers writes "no limit" as a huge number (int(1e30)). */
const NO_LIMIT = 1e12;

function tokenName(v: SpecialTokenValue | null | undefined): string | null | undefined {
  if (v === null) return null;
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.content;
}

function isClipClass(name: string | undefined): boolean {
  return name === 'CLIPTokenizer' || name === 'CLIPTokenizerFast';
}

/** Builds a tokenizer from already-parsed files. */
export function tokenizerFromSources(src: TokenizerSources): Tokenizer {
  const config = src.tokenizerConfig ?? {};
  const map = src.specialTokensMap ?? {};
  let json = src.tokenizerJson;
  let clip = isClipClass(config.tokenizer_class);
  if (!json) {
    if (!src.vocabJson || src.mergesTxt === undefined) throw new Error('tokenizer: need tokenizer.json, or vocab.json and merges.txt');
    if (config.tokenizer_class && !clip) throw new Error(`tokenizer: ${config.tokenizer_class} needs a tokenizer.json`);
    json = buildClipTokenizerJson(src.vocabJson, parseMergesTxt(src.mergesTxt), {
      bosToken: tokenName(config.bos_token ?? map.bos_token) ?? undefined,
      eosToken: tokenName(config.eos_token ?? map.eos_token) ?? undefined,
      unkToken: tokenName(config.unk_token ?? map.unk_token) ?? undefined,
    });
    clip = true;
  }

  const pick = (key: 'bos_token' | 'eos_token' | 'unk_token' | 'pad_token'): string | null | undefined => {
    const fromConfig = tokenName(config[key] as SpecialTokenValue | null | undefined);
    return fromConfig !== undefined ? fromConfig : tokenName(map[key]);
  };
  const padding = json.padding as { pad_token?: string } | null;
  const truncation = json.truncation as { max_length?: number } | null;
  let pad = pick('pad_token');
  if (pad === undefined) pad = padding?.pad_token ?? (clip ? CLIP_EOS_TOKEN : undefined); // CLIPTokenizer's default pad
  let modelMaxLength = typeof config.model_max_length === 'number' && config.model_max_length < NO_LIMIT ? config.model_max_length : undefined;
  modelMaxLength ??= truncation?.max_length;

  return new Tokenizer(json, {
    modelMaxLength,
    tokenizerClass: config.tokenizer_class,
    specialTokens: {
      bos: pick('bos_token') ?? (clip ? CLIP_BOS_TOKEN : undefined),
      eos: pick('eos_token') ?? (clip ? CLIP_EOS_TOKEN : undefined),
      unk: pick('unk_token'),
      pad,
    },
  });
}

async function readJsonIfPresent<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`tokenizer: cannot read ${file}: ${(e as Error).message}`);
  }
}

async function hasTokenizerFiles(dir: string): Promise<boolean> {
  for (const f of ['tokenizer.json', 'vocab.json']) {
    try {
      await fsp.access(path.join(dir, f));
      return true;
    } catch {
      // try the next
    }
  }
  return false;
}

/** Loads the tokenizer of a model folder (`<dir>/tokenizer/`) or of a tokenizer directory. */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  let tokDir = dir;
  if (!(await hasTokenizerFiles(dir))) {
    tokDir = path.join(dir, 'tokenizer');
    if (!(await hasTokenizerFiles(tokDir))) throw new Error(`tokenizer: no tokenizer.json or vocab.json in ${dir} or ${tokDir}`);
  }
  const tokenizerJson = await readJsonIfPresent<TokenizerJson>(path.join(tokDir, 'tokenizer.json'));
  const mergesTxt = tokenizerJson ? undefined : await fsp.readFile(path.join(tokDir, 'merges.txt'), 'utf8').catch(() => undefined);
  return tokenizerFromSources({
    tokenizerJson,
    tokenizerConfig: await readJsonIfPresent<TokenizerConfigJson>(path.join(tokDir, 'tokenizer_config.json')),
    specialTokensMap: await readJsonIfPresent<SpecialTokensMapJson>(path.join(tokDir, 'special_tokens_map.json')),
    vocabJson: tokenizerJson ? undefined : await readJsonIfPresent<Record<string, number>>(path.join(tokDir, 'vocab.json')),
    mergesTxt,
  });
}
