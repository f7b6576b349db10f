import { SCORER_HOLDOUT_FRACTION } from './scorer-data';
import { ScorerMetrics } from './scorer.trainer';
import { RejectionMetrics } from './style-rejection';

export interface ScorerCardReport {
  parameters: number;
  /** Present once a rejection class was fitted (fit-style-rejection.cli.ts). */
  rejection?: { description: string; fit: { steps: number; samples: number; seconds: number }; validation_images: number; before: RejectionMetrics; after: RejectionMetrics };
  held_out: ScorerMetrics;
  final_all_images: ScorerMetrics;
  training: {
    batch_size: number;
    split_phase: { steps: number; lr: number };
    finetune_phase: { steps: number; lr: number };
    samples_seen: number;
    train_seconds: number;
    wall_seconds: number;
    samples_per_second: number;
    cpu: string;
    packages: Record<string, string>;
  };
}

/** The model card (README.md) of a trained scorer folder, from the report stored in its config.json. */
export function scorerModelCard(r: ScorerCardReport, concepts: number, images: number): string {
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const row = (name: string, m: { images: number; styleAccuracy: number; conceptTop1: number; conceptTop5: number }) =>
    `| ${name} | ${m.images} | ${pct(m.styleAccuracy)} | ${pct(m.conceptTop1)} | ${pct(m.conceptTop5)} |`;
  const t = r.training;
  const styleRows = (m: ScorerMetrics) => Object.entries(m.perStyle).map(([s, v]) => row(s, v));
  return `# emoji-scorer

A small image classifier trained by this project to evaluate generated images: for a 32×32 RGB image it
gives **style probabilities** over \`noto\`, \`twemoji\`, \`openmoji\`${r.rejection ? ' (and a rejection class \`none\` for degraded and off-style images)' : ''} and **concept scores** over ${concepts}
emoji concepts, plus its pooled features. The evaluation uses it for concept top-5 (is the prompted concept among
the five most likely), brand fidelity (feature similarity to the real rendering, \`src/lab/evaluation/brand-fidelity.ts\`)
and, secondarily, the target-style probability.

## Use

\`\`\`ts
import { EmojiScorer } from './src/engine';
const scorer = await EmojiScorer.load('models/emoji-scorer');
const [scored] = await scorer.scoreBatch([imageChw]); // Float32Array 3×32×32, RGB in [-1, 1] on white
scored.styleProbabilities.openmoji; scored.noneProbability; scored.features; scored.rankOf('2764'); scored.topK(5);
\`\`\`

Inputs are CHW RGB floats in [-1, 1] (\`byte / 127.5 - 1\`), transparent areas flattened onto white; other
square sizes are resized bilinearly. \`config.json\` lists the style and concept head order
(\`styles\`, \`concept_ids\` as emojibase hexcodes without FE0F, \`concept_labels\`).

## Architecture

Pre-activation ResNet, ${r.parameters.toLocaleString('en-US')} parameters (\`src/engine/scorer/scorer.model.ts\`):
3×3 stem conv (32 ch) at 32×32, three stages of GroupNorm → SiLU → stride-2 3×3 conv (48, 96, 192 ch at
16×16, 8×8, 4×4) followed by one residual block each (GroupNorm, SiLU, 3×3 conv, twice), GroupNorm → SiLU →
global average pooling, and two linear heads (\`style_head\`, \`concept_head\`). Weights are stored as fp16
safetensors with torch-style names.

## Data

Every emojibase concept outside the \`flags\` and \`component\` groups that has an image in at least one of the
three styles: ${images} real renderings at 32×32.

| style | source | licence |
|---|---|---|
| Noto | \`emoji-datasource-google\` ${t.packages['emoji-datasource-google'] ?? ''} (64 px PNG) | Apache-2.0 |
| Twemoji | \`emoji-datasource-twitter\` ${t.packages['emoji-datasource-twitter'] ?? ''} (64 px PNG) | CC-BY-4.0 — Twemoji by Twitter, Inc and other contributors, CC-BY-4.0 |
| OpenMoji | \`openmoji\` ${t.packages.openmoji ?? ''} (SVG rasterised with sharp) | CC-BY-SA-4.0 — OpenMoji, the open-source emoji and icon project |

Labels and concept ids come from \`emojibase-data\` ${t.packages['emojibase-data'] ?? ''} (MIT, © Miles Johnson)
and the \`emoji-datasource\` index (MIT, © Cal Henderson). Flags are left out: the base model is trained without
them, and at 32 px they are mostly colour stripes.

\`\`\`
Noto Emoji — Copyright Google Inc., licensed under the Apache License 2.0
  https://github.com/googlefonts/noto-emoji — https://www.apache.org/licenses/LICENSE-2.0

Twemoji by Twitter, Inc and other contributors, CC-BY-4.0 (maintained by jdecked and other contributors)
  https://github.com/jdecked/twemoji — https://creativecommons.org/licenses/by/4.0/

OpenMoji — All emojis designed by OpenMoji, the open-source emoji and icon project (https://openmoji.org/).
  License: CC BY-SA 4.0 — https://creativecommons.org/licenses/by-sa/4.0/

Modifications: images were flattened onto a white background, rasterised (OpenMoji SVG) and resized to 32 px.
\`\`\`

Because the weights are trained on OpenMoji artwork they are, conservatively, shared under CC-BY-SA-4.0 with
the attributions above.

## Training

\`\`\`
npm run build && node dist/src/cli/train-scorer.cli.js --out models/emoji-scorer
\`\`\`

Soft-label cross-entropy on both heads (concept label smoothing 0.1), AdamW (weight decay 0.05 except norms
and biases), gradient clipping, EMA of the weights (0.998), batch ${t.batch_size}, executed as ONNX Runtime
gradient graphs built from the same model definition. Augmentations, all seeded: ±2 px translation with white
fill, ±8% zoom, brightness/contrast/saturation jitter, Gaussian noise, Gaussian blur and 16–24 px
downscale-upscale, so that imperfect generated images still score sensibly. No flips (mirrored emoji are other
concepts).

1. **Split phase** (${t.split_phase.steps} steps, peak lr ${t.split_phase.lr}, warm-up then cosine decay): trained on
   every image except the held-out renderings.
2. **Final phase** (${t.finetune_phase.steps} steps, peak lr ${t.finetune_phase.lr}): continued on every image; these
   are the shipped weights.

Compute: ${t.samples_seen.toLocaleString('en-US')} samples in ${Math.round(t.train_seconds / 60)} min of training (${t.samples_per_second} samples/s),
${Math.round(t.wall_seconds / 60)} min wall time including data loading and evaluation, on ${t.cpu}.

## Held-out accuracy

For a deterministic ${SCORER_HOLDOUT_FRACTION * 100}% of the concepts drawn in two or more styles, one rendering
is held out of the split phase; the concept itself stays known from its other renderings. Scored by the split
model, so these images are unseen:

| held-out style | images | style accuracy | concept top-1 | concept top-5 |
|---|---|---|---|---|
${[row('**all**', r.held_out), ...styleRows(r.held_out)].join('\n')}

Shipped weights on every real image (all trained on in the final phase; a sanity check, not a generalisation
measure):

| style | images | style accuracy | concept top-1 | concept top-5 |
|---|---|---|---|---|
${[row('**all**', r.final_all_images), ...styleRows(r.final_all_images)].join('\n')}

${rejectionSection(r)}## Limits

A 32 px classifier trained on clean renderings: it measures whether a generated image looks like a given
emoji in a given style, not image quality in general. Concepts that differ only in detail at 32 px (clock
faces, keycaps, similar faces) are often confused with each other, which is why evaluations use top-5.
Recognising a concept in a rendering unlike any it was trained on is hard, above all across the gap between
OpenMoji's outlined line art and the filled Noto/Twemoji art (held-out OpenMoji renderings: concept top-5
${r.held_out.perStyle.openmoji ? pct(r.held_out.perStyle.openmoji.conceptTop5) : 'n/a'}). Concept scores are most meaningful for concepts and styles the scorer was trained on;
the shipped weights have seen every concept in every style it exists in.
`;
}

function rejectionSection(r: ScorerCardReport): string {
  const j = r.rejection;
  if (!j) return '';
  const n = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(3));
  const clean = Object.entries(j.after.clean)
    .map(([s, v]) => `| ${s} | ${v.images} | ${n(j.before.clean[s as keyof typeof j.before.clean]?.ownStyle)} | ${n(v.ownStyle)} | ${n(v.none)} | ${n(v.accuracy)} |`)
    .join('\n');
  const corrupted = Object.entries(j.after.corrupted)
    .map(([k, v]) => `| ${k} | ${v.images} | ${n(j.before.corrupted[k as keyof typeof j.before.corrupted]?.openmoji)} | ${n(v.openmoji)} | ${n(v.none)} | ${n(v.rejected)} |`)
    .join('\n');
  return `## Rejection class \`none\`

A softmax over the known styles alone hands the probability of an image that stops looking like Noto or
Twemoji to the remaining style. The style logits therefore end with a rejection logit (\`reject_head\`, in the
same softmax; \`reject_class\` in \`config.json\`), read from the spatial mean and standard deviation of every
channel of the residual stream after each stage plus the pooled features. It is fitted on the frozen
network (the style rows and concept head are unchanged) by \`node dist/src/cli/fit-style-rejection.cli.js\`:
${j.description}; ${j.fit.samples.toLocaleString('en-US')} samples, ${j.fit.steps} steps, ${j.fit.seconds} s.

Validation on ${j.validation_images} renderings the fit never saw — clean (own-style probability before and after,
probability of none, share classified as their own style):

| style | images | own style before | own style | none | accuracy |
|---|---|---|---|---|---|
${clean}

Their Noto and Twemoji renderings (what the base model draws) corrupted at strength 0.5 (OpenMoji
probability before and after, probability of none, share classified as none):

| corruption | images | OpenMoji before | OpenMoji | none | rejected |
|---|---|---|---|---|---|
${corrupted}

`;
}
