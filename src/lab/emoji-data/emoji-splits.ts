import { normalizePrompt } from './emoji-caption';
import { COMMON_EVAL_PROMPTS, findConcept, normalizeHexcode, type EmojiCatalog } from './emoji-catalog';
import type { EmojiConcept } from './emoji-data.types';
import { hashString32 } from './seeded-random.util';

export const DEFAULT_SPLIT_SEED = 'emoji-split-v1';
export const DEFAULT_HELD_OUT_FRACTION = 0.1;

export type EmojiSplitName = 'train' | 'heldOut' | 'all';

export interface SplitOptions {
  seed?: string;
  /** Share of each emojibase group held out (default 0.1). */
  heldOutFraction?: number;
  /** Extra concept ids forced into train, on top of COMMON_EVAL_PROMPTS. */
  pinnedTrain?: readonly string[];
}

export interface ConceptSplit {
  train: EmojiConcept[];
  heldOut: EmojiConcept[];
}

/**
 * Deterministic train/held-out split, stratified by emojibase group: within each group concepts are
 * ranked by a seeded hash of their hexcode and the lowest `round(n * fraction)` are held out. Depends only
 * on ids and groups, so adding emoji to a package moves few existing concepts. Both lists keep input order.
 */
export function splitConcepts(concepts: readonly EmojiConcept[], options: SplitOptions = {}): ConceptSplit {
  const seed = options.seed ?? DEFAULT_SPLIT_SEED;
  const fraction = Math.min(1, Math.max(0, options.heldOutFraction ?? DEFAULT_HELD_OUT_FRACTION));
  const pinned = new Set([...COMMON_EVAL_PROMPTS.map((p) => p.id), ...(options.pinnedTrain ?? [])]);

  const byGroup = new Map<string, EmojiConcept[]>();
  for (const c of concepts) {
    const list = byGroup.get(c.group) ?? [];
    list.push(c);
    byGroup.set(c.group, list);
  }
  const heldOutIds = new Set<string>();
  for (const members of byGroup.values()) {
    const quota = Math.round(members.length * fraction);
    const ranked = members
      .filter((c) => !pinned.has(c.id))
      .map((c) => ({ id: c.id, rank: hashString32(`${seed}:${c.id}`) }))
      .sort((a, b) => a.rank - b.rank || (a.id < b.id ? -1 : 1));
    for (const r of ranked.slice(0, quota)) heldOutIds.add(r.id);
  }
  return {
    train: concepts.filter((c) => !heldOutIds.has(c.id)),
    heldOut: concepts.filter((c) => heldOutIds.has(c.id)),
  };
}

/** Concepts of one split ('all' returns every concept). */
export function conceptsForSplit(
  concepts: readonly EmojiConcept[],
  split: EmojiSplitName,
  options: SplitOptions = {},
): EmojiConcept[] {
  if (split === 'all') return concepts.slice();
  return splitConcepts(concepts, options)[split];
}

export interface BrandSetOptions {
  /** Number of concepts (default 48). */
  count?: number;
  seed?: string;
  /**
   * Also exclude concepts whose label contains a held-out prompt as a whole phrase ("sun" excludes
   * "sun behind cloud", "tree" excludes "palm tree"), so held-out prompts are truly unseen (default true).
   */
  excludeRelated?: boolean;
  /**
   * Also exclude every concept in the emojibase subgroup of a held-out concept (all hearts for "red heart",
   * all air transport for "rocket"): the strictest "unseen concept" setting (default false).
   */
  excludeSameSubgroup?: boolean;
  /** Groups never used for a brand set (default flags and component: little style signal). */
  excludeGroups?: readonly string[];
}

function containsPhrase(label: string, phrase: string): boolean {
  return phrase.length > 0 && ` ${label} `.includes(` ${phrase} `);
}

/**
 * Picks the OpenMoji "brand" upload set for fine-tune demos and evaluation: `count` concepts with an
 * OpenMoji image, none of them (or, by default, closely related to) any held-out prompt. Deterministic:
 * groups take turns (sorted by name) and each group's concepts come in seeded-hash order, so the set spans
 * faces, animals, food, objects, … rather than 48 variants of one thing.
 */
export function chooseBrandConcepts(
  source: EmojiCatalog | readonly EmojiConcept[],
  heldOutPrompts: readonly string[] = COMMON_EVAL_PROMPTS.map((p) => p.prompt),
  options: BrandSetOptions = {},
): EmojiConcept[] {
  const count = options.count ?? 48;
  const seed = options.seed ?? 'openmoji-brand-v1';
  const excludeRelated = options.excludeRelated ?? true;
  const excludeGroups = new Set(options.excludeGroups ?? ['flags', 'component']);
  const concepts = Array.isArray(source) ? (source as readonly EmojiConcept[]) : (source as EmojiCatalog).concepts;
  const catalog: EmojiCatalog | undefined = Array.isArray(source) ? undefined : (source as EmojiCatalog);

  const excludedIds = new Set<string>();
  const excludedSubgroups = new Set<string>();
  const phrases: string[] = [];
  for (const prompt of heldOutPrompts) {
    const subject = normalizePrompt(prompt).split(', ')[0] ?? '';
    const hit = catalog
      ? findConcept(catalog, prompt)
      : concepts.find((c) => c.id === normalizeHexcode(prompt) || c.label === subject);
    if (hit) {
      excludedIds.add(hit.id);
      if (options.excludeSameSubgroup && hit.subgroup) excludedSubgroups.add(`${hit.group}/${hit.subgroup}`);
      phrases.push(hit.label);
    }
    phrases.push(subject);
  }

  const pool = concepts.filter(
    (c) =>
      c.availability.openmoji &&
      !excludeGroups.has(c.group) &&
      !excludedIds.has(c.id) &&
      !excludedSubgroups.has(`${c.group}/${c.subgroup}`) &&
      !(excludeRelated && phrases.some((p) => containsPhrase(c.label, p))),
  );
  const byGroup = new Map<string, EmojiConcept[]>();
  for (const c of pool) {
    const list = byGroup.get(c.group) ?? [];
    list.push(c);
    byGroup.set(c.group, list);
  }
  const queues = [...byGroup.keys()].sort().map((g) =>
    byGroup
      .get(g)!
      .map((c) => ({ c, rank: hashString32(`${seed}:${c.id}`) }))
      .sort((a, b) => a.rank - b.rank || (a.c.id < b.c.id ? -1 : 1))
      .map((r) => r.c),
  );
  const chosen: EmojiConcept[] = [];
  for (let round = 0; chosen.length < count && queues.some((q) => q.length > round); round++) {
    for (const q of queues) {
      if (chosen.length >= count) break;
      if (round < q.length) chosen.push(q[round]);
    }
  }
  return chosen;
}
