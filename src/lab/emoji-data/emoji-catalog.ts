import * as fs from 'node:fs';
import * as path from 'node:path';
import { normalizeCaptionText, normalizePrompt } from './emoji-caption';
import type { EmojiConcept, EmojiStyle } from './emoji-data.types';
import { normalizeHexcode } from '../../engine/scorer/emoji-styles';
import { COMMON_EVAL_PROMPTS } from '../../engine/models/emoji-base.prompts';

export { normalizeHexcode, COMMON_EVAL_PROMPTS };
import { packageVersion, readJsonFile, resolvePackageDir } from './package-paths.util';

export const EMOJI_PACKAGES = {
  noto: 'emoji-datasource-google',
  twemoji: 'emoji-datasource-twitter',
  emojibase: 'emojibase-data',
  openmoji: 'openmoji',
} as const;

interface DatasourceEntry {
  unified: string;
  image: string;
  has_img_google?: boolean;
  has_img_twitter?: boolean;
}

interface EmojibaseEntry {
  label: string;
  hexcode: string;
  tags?: string[];
  emoji: string;
  order?: number;
  group?: number;
  subgroup?: number;
}

interface EmojibaseGroups {
  groups: Record<string, string>;
  subgroups: Record<string, string>;
}

interface OpenmojiEntry {
  hexcode: string;
  skintone?: string;
}

export interface EmojiCatalog {
  /** Concepts sorted by emojibase order. */
  concepts: EmojiConcept[];
  byId: ReadonlyMap<string, EmojiConcept>;
  /** Keyed by caption-ready label. */
  byLabel: ReadonlyMap<string, EmojiConcept>;
  /** Versions of the source packages (for cache keys and model cards). */
  versions: Readonly<Record<string, string>>;
}

export interface CatalogOptions {
  /**
   * Country/region flags (~270) are kept by default: they are cheap, text-conditioned colour layouts, but
   * of low value for a 32 px model, so callers may drop them.
   */
  includeFlags?: boolean;
}

/** Absolute directory holding a style's image files. */
export function styleImageDir(style: EmojiStyle): string {
  switch (style) {
    case 'noto':
      return path.join(resolvePackageDir(EMOJI_PACKAGES.noto), 'img', 'google', '64');
    case 'twemoji':
      return path.join(resolvePackageDir(EMOJI_PACKAGES.twemoji), 'img', 'twitter', '64');
    case 'openmoji':
      return path.join(resolvePackageDir(EMOJI_PACKAGES.openmoji), 'color', 'svg');
  }
}

/** Versions of every package whose content ends up in images or captions. */
export function emojiPackageVersions(): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const name of Object.values(EMOJI_PACKAGES)) versions[name] = packageVersion(name);
  return versions;
}

function listDir(dir: string): Set<string> {
  try {
    return new Set(fs.readdirSync(dir));
  } catch {
    return new Set();
  }
}

function datasourceImages(pkg: string, style: 'noto' | 'twemoji', flag: keyof DatasourceEntry): Map<string, string> {
  const entries = readJsonFile<DatasourceEntry[]>(path.join(resolvePackageDir(pkg), 'emoji.json'));
  const present = listDir(styleImageDir(style));
  const out = new Map<string, string>();
  // Skin-tone variants live under `skin_variations` and are deliberately not read: one base form each.
  for (const entry of entries) {
    if (entry[flag] === true && present.has(entry.image)) out.set(normalizeHexcode(entry.unified), entry.image);
  }
  return out;
}

function openmojiImages(): Map<string, string> {
  const dir = resolvePackageDir(EMOJI_PACKAGES.openmoji);
  const entries = readJsonFile<OpenmojiEntry[]>(path.join(dir, 'data', 'openmoji.json'));
  const present = listDir(styleImageDir('openmoji'));
  const out = new Map<string, string>();
  for (const entry of entries) {
    if (entry.skintone) continue;
    const file = `${entry.hexcode}.svg`;
    const key = normalizeHexcode(entry.hexcode);
    if (present.has(file) && !out.has(key)) out.set(key, file);
  }
  return out;
}

function cleanTags(tags: readonly string[], label: string): string[] {
  const labelWords = new Set(label.split(' '));
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of tags) {
    const tag = normalizeCaptionText(raw);
    // Tags without letters ("+1", "12:00") or single letters ("a+") teach the tokenizer nothing.
    if (tag.length < 2 || !/[a-z]/.test(tag)) continue;
    if (tag.split(' ').every((w) => labelWords.has(w))) continue;
    if (seen.has(tag)) continue;
    seen.add(tag);
    out.push(tag);
  }
  return out;
}

const catalogCache = new Map<string, EmojiCatalog>();

/**
 * Joins emojibase (labels, tags, groups) with the Noto/Twemoji PNGs of emoji-datasource and the OpenMoji
 * SVGs. One concept per emoji: skin-tone variants and the "component" group (bare skin-tone swatches and
 * hair pieces) are skipped; ZWJ sequences such as "black cat" are kept. Memoised per options.
 */
export function loadEmojiCatalog(options: CatalogOptions = {}): EmojiCatalog {
  const includeFlags = options.includeFlags ?? true;
  const key = JSON.stringify({ includeFlags });
  const hit = catalogCache.get(key);
  if (hit) return hit;

  const emojibaseDir = resolvePackageDir(EMOJI_PACKAGES.emojibase);
  const base = readJsonFile<EmojibaseEntry[]>(path.join(emojibaseDir, 'en', 'data.json'));
  const meta = readJsonFile<EmojibaseGroups>(path.join(emojibaseDir, 'meta', 'groups.json'));
  const sources: Record<EmojiStyle, Map<string, string>> = {
    noto: datasourceImages(EMOJI_PACKAGES.noto, 'noto', 'has_img_google'),
    twemoji: datasourceImages(EMOJI_PACKAGES.twemoji, 'twemoji', 'has_img_twitter'),
    openmoji: openmojiImages(),
  };

  const concepts: EmojiConcept[] = [];
  const byId = new Map<string, EmojiConcept>();
  for (const entry of base) {
    if (entry.group === undefined) continue; // regional indicator letters and other non-pictorial entries
    const group = meta.groups[String(entry.group)] ?? 'unknown';
    if (group === 'component') continue;
    if (group === 'flags' && !includeFlags) continue;
    const id = normalizeHexcode(entry.hexcode);
    if (byId.has(id)) continue;
    const files: Partial<Record<EmojiStyle, string>> = {};
    for (const style of ['noto', 'twemoji', 'openmoji'] as const) {
      const file = sources[style].get(id);
      if (file) files[style] = file;
    }
    if (!files.noto && !files.twemoji && !files.openmoji) continue;
    const label = normalizeCaptionText(entry.label);
    const concept: EmojiConcept = {
      id,
      label,
      displayLabel: entry.label,
      tags: cleanTags(entry.tags ?? [], label),
      group,
      subgroup: entry.subgroup === undefined ? '' : (meta.subgroups[String(entry.subgroup)] ?? ''),
      emoji: entry.emoji,
      order: entry.order ?? Number.MAX_SAFE_INTEGER,
      availability: { noto: !!files.noto, twemoji: !!files.twemoji, openmoji: !!files.openmoji },
      files,
    };
    concepts.push(concept);
    byId.set(id, concept);
  }
  concepts.sort((a, b) => a.order - b.order || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  const byLabel = new Map<string, EmojiConcept>();
  for (const c of concepts) if (!byLabel.has(c.label)) byLabel.set(c.label, c);

  const catalog: EmojiCatalog = { concepts, byId, byLabel, versions: emojiPackageVersions() };
  catalogCache.set(key, catalog);
  return catalog;
}

const PROMPT_ALIASES: ReadonlyMap<string, string> = new Map(COMMON_EVAL_PROMPTS.map((p) => [p.prompt, p.id]));

/**
 * Finds a concept by hexcode ("2764", "2764-fe0f"), label ("flag: United States", "red heart") or a
 * common short prompt ("tree"). A trailing style phrase ("pizza, noto style") is ignored.
 */
export function findConcept(catalog: EmojiCatalog, query: string): EmojiConcept | undefined {
  const trimmed = query.trim();
  if (/^[0-9a-f]{2,6}([-_ ][0-9a-f]{2,6})*$/i.test(trimmed)) {
    const hit = catalog.byId.get(normalizeHexcode(trimmed));
    if (hit) return hit;
  }
  const whole = normalizeCaptionText(trimmed);
  const firstPart = normalizePrompt(trimmed).split(', ')[0] ?? '';
  for (const label of [whole, firstPart]) {
    const hit = catalog.byLabel.get(label);
    if (hit) return hit;
    const alias = PROMPT_ALIASES.get(label);
    if (alias) return catalog.byId.get(alias);
  }
  return undefined;
}

/** Concepts of COMMON_EVAL_PROMPTS, in that order. */
export function commonEvalConcepts(catalog: EmojiCatalog): EmojiConcept[] {
  return COMMON_EVAL_PROMPTS.map((p) => {
    const concept = catalog.byId.get(p.id);
    if (!concept) throw new Error(`common evaluation prompt "${p.prompt}" (${p.id}) missing from the catalogue`);
    return concept;
  });
}
