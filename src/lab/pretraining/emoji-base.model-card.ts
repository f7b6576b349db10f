import * as fsp from 'fs/promises';
import * as path from 'path';
import { DEFAULT_PRETRAIN_LR, EMOJI_BASE_RECIPE, EMOJI_BASE_TRAINING, EMOJI_BASE_TRAINING_STEPS } from './emoji-base.recipe';
import { readTrainingLog, totalTrainingSteps, TrainingLog } from './pretrain.trainer';
import { readJsonFileOrNull } from '../../engine/io/json-file';
import { DEFAULT_EVAL_SAMPLING, SamplingSettings } from '../evaluation/style-evaluation';

interface BaseEval {
  conceptTop5: number;
  styleAccuracy: number;
  prompts: number;
}

function paramCount(tensorsBytes: number): string {
  return `${(tensorsBytes / 2 / 1e6).toFixed(1)} M`;
}

const n = (v: number) => v.toLocaleString('en');
const pct = (share: number) => `${Math.round(share * 100)} %`;
const T = EMOJI_BASE_TRAINING;

/** The phases trained after `npm run pretrain` (PyTorch on CUDA): what ran, how fast, and the check that preceded it. */
function laterPhases(log: TrainingLog | null): { summary: string; section: string } {
  if (!log?.phases?.length) return { summary: '', section: '' };
  const phases = log.phases;
  const rows = phases
    .map((p, i) => `| ${i + 1} | ${n(p.fromStep)} → ${n(p.fromStep + p.steps)} | ${p.batchSize} | ${n(p.samplesSeen)} | ${p.lr} (${p.warmupSteps} warm-up steps, cosine to ${pct(T.minLrRatio)}) | ${(p.trainHours * 60).toFixed(1)} min, ${n(Math.round(p.samplesPerSecond))} samples/s | ${p.finalLoss.toFixed(4)} | ${p.host.device}, ${p.host.engine}${p.host.bf16 ? ', bf16 autocast' : ''} |`)
    .join('\n');
  const worst = (key: 'textRelErr' | 'unetRelErr') => Math.max(...phases.map((p) => p.verify[key])).toExponential(1);
  const samples = phases.reduce((a, p) => a + p.samplesSeen, 0);
  const hours = phases.reduce((a, p) => a + p.trainHours, 0);
  return {
    summary: `, then ${n(totalTrainingSteps(log) - log.steps)} steps (${n(samples)} samples, ${(hours * 60).toFixed(0)} min) on a GPU with \`scripts/cuda-pretrain.py\``,
    section: `
### Continued on a GPU

\`scripts/cuda-pretrain.py\` rebuilds the same text encoder and UNet in PyTorch, with the diffusers and
transformers parameter names, and trains them with the same recipe (v-prediction, Min-SNR-γ ${T.minSnrGamma}, ${pct(T.captionDropout)}
caption dropout, AdamW with the same weight-decay exemptions, clipping at ${T.gradClip}, EMA ${T.emaDecay}) from a
training pack that \`npm run training-pack\` writes: the same images, 32 tokenized caption draws per
image, the noise schedule and reference outputs of this engine (written from the CPU-trained folder,
before the phases replace its weights). Before every run it checks its modules
against those references and refuses to train on a mismatch; the largest relative errors were
${worst('textRelErr')} (text encoder) and ${worst('unetRelErr')} (UNet). Its output is an ordinary model folder.
Phase 1 shared the GPU with two comparison runs from scratch (see Limitations), hence its lower rate.

| phase | steps | batch | samples | peak lr | time | final loss | device |
|---|---|---|---|---|---|---|---|
${rows}

\`\`\`bash
npm run training-pack
${phases.map((p) => p.command).join('\n')}
\`\`\`

In all: ${n(totalTrainingSteps(log))} optimizer steps, ${n(log.samplesSeen + samples)} samples seen.
`,
  };
}

/**
 * Writes the bundled model's card (README.md) from what the folder records: the recipe, the
 * training log, the training data lists and the latest base evaluation (eval.json).
 */
export async function writeEmojiBaseModelCard(dir: string): Promise<string> {
  const log = await readTrainingLog(dir);
  const data = await readJsonFileOrNull<{ trainConcepts: string[]; heldOutConcepts: string[]; styles: string[]; imageSize: number; trainImages?: number }>(path.join(dir, 'training_data.json'));
  const evaluation = await readJsonFileOrNull<{ base: BaseEval; measuredAtStep?: number; sampling?: SamplingSettings }>(path.join(dir, 'eval.json'));
  const { steps, guidanceScale } = evaluation?.sampling ?? DEFAULT_EVAL_SAMPLING;
  const sampling = `DPM-Solver++ ${steps} steps, guidance ${guidanceScale}`;
  const unetBytes = (await fsp.stat(path.join(dir, 'unet', 'diffusion_pytorch_model.safetensors'))).size;
  const textBytes = (await fsp.stat(path.join(dir, 'text_encoder', 'model.safetensors'))).size;
  const r = EMOJI_BASE_RECIPE;
  // Older folders lack the image count: every concept then counts once per style.
  const trainImages = data ? (data.trainImages ?? data.trainConcepts.length * data.styles.length) : 0;
  const later = laterPhases(log);
  const compute = log
    ? `${log.steps.toLocaleString('en')} of ${log.scheduleSteps.toLocaleString('en')} scheduled steps × batch ${log.batchSize} = ${log.samplesSeen.toLocaleString('en')} samples seen, ${log.trainHours.toFixed(2)} h of training on ${log.host.cpus} CPU cores (${log.host.cpuModel}, ${log.host.engine ?? 'onnxruntime'}), ${log.samplesPerSecond} samples/s on average (the machine was shared with other work for much of it)`
    : 'not recorded';
  const scheduleNote = (log?.scheduleChanges ?? [])
    .map((c) =>
      c.toLr !== undefined && c.toLr !== c.fromLr
        ? ` The schedule was set to ${c.toSteps.toLocaleString('en')} steps and a peak lr of ${c.toLr} at step ${c.atStep.toLocaleString('en')} (it had been ${c.fromSteps.toLocaleString('en')} steps, lr ${c.fromLr}): from there the cosine decay follows the new length and peak.`
        : ` The schedule was set to ${c.toSteps.toLocaleString('en')} steps at step ${c.atStep.toLocaleString('en')} (it had been ${c.fromSteps.toLocaleString('en')}): from there the cosine decay follows the new length.`,
    )
    .join('');
  const focus = log?.focus;
  const focusFlags = focus ? ` --focus-share ${focus.share} --focus-power ${focus.power} --focus-refresh ${focus.refreshEverySteps}` : '';
  const lrFlag = log && log.lr !== DEFAULT_PRETRAIN_LR ? ` --lr ${log.lr}` : '';
  const focusNote = focus
    ? ` From step ${focus.fromStep.toLocaleString('en')} on, ${Math.round(focus.share * 100)} % of every batch was drawn with probability ∝ (x̂0 error)^${focus.power}: each image's squared error of the model's clean-image estimate at t = ${focus.timesteps.join('/')}, re-measured every ${focus.refreshEverySteps.toLocaleString('en')} steps, so that concepts still drawn as blobs are visited more often than shapes learned from many relatives.`
    : '';
  const scores = evaluation
    ? `| metric | value |\n|---|---|\n| concept top-5 (share of ${evaluation.base.prompts} prompts from training concepts, fixed seeds, whose image has the prompted concept in the scorer's top 5) | ${evaluation.base.conceptTop5} |\n| style accuracy (prompted style = the scorer's most likely style) | ${evaluation.base.styleAccuracy} |\n\nMeasured at training step ${evaluation.measuredAtStep ?? '?'}; sampling: ${sampling}.`
    : 'Not measured yet: run `npm run eval -- --base-only --model-card`.';
  const card = `# emoji-base — the bundled base model

A small text-to-image diffusion model that draws 32×32 emoji from short captions such as
\`red heart, love, noto style\`. It is trained from scratch by this project's own code, from emoji
images that ship in npm packages: ${log ? n(log.steps) : '?'} steps on CPU with \`npm run pretrain\`${later.summary}. It is the default base
model of the API, \`npm run generate\` and \`npm run bench\`. It exists so that the service generates
real images on a fresh machine with nothing downloaded, and so that per-tenant style adapters have a
base that draws the prompted thing.

![samples](samples.png)

*Rows: red heart, sun, smiling face, cat face, pizza, deciduous tree, rocket. Columns: Noto style
(two seeds), then Twemoji style (two seeds). ${sampling}, shown at 3×.*

## Architecture

| part | format | details |
|---|---|---|
| \`unet/\` | diffusers \`UNet2DConditionModel\` | pixel space: a ${r.imageSize}×${r.imageSize} RGB image is folded ${r.patchSize}×${r.patchSize} into a ${r.unet.sample_size}×${r.unet.sample_size}×${r.unet.in_channels} sample (\`pixel_unshuffle\`, recorded as \`_sample_space\` in \`model_index.json\`); \`block_out_channels\` ${r.unet.block_out_channels.join('/')}, ${r.unet.down_block_types.join(' → ')}, \`${r.unet.mid_block_type}\`, mirrored up path, ${r.unet.layers_per_block} layer per block, ${r.unet.norm_num_groups} norm groups, ${r.unet.attention_head_dim} heads, cross-attention dim ${r.unet.cross_attention_dim}; ${paramCount(unetBytes)} parameters |
| \`text_encoder/\` | transformers \`CLIPTextModel\` | ${r.text.num_hidden_layers} layers, hidden ${r.text.hidden_size}, ${r.text.num_attention_heads} heads, MLP ${r.text.intermediate_size}, quick-GELU, causal attention, ${r.maxLength} tokens; ${paramCount(textBytes)} parameters |
| \`tokenizer/\` | HF \`tokenizer.json\` (\`PreTrainedTokenizerFast\`) | WordLevel over the caption vocabulary (labels, tags, style words); NFKD, accents stripped, lower case |
| \`scheduler/\` | diffusers \`DPMSolverMultistepScheduler\` | 1000 steps, cosine (\`squaredcos_cap_v2\`) betas, \`v_prediction\`, \`trailing\` spacing, DPM-Solver++(2M) |

Weights are fp16 safetensors (${((unetBytes + textBytes) / 1e6).toFixed(1)} MB in all). The UNet, text
encoder, tokenizer and scheduler follow the diffusers/transformers layouts and names; the 2×2 pixel
(un)shuffle around the UNet is the one step a plain diffusers pipeline does not know about.

## Training data and licences

- **Noto Color Emoji** images from \`emoji-datasource-google\` 16.0.0 — Apache License 2.0, © Google.
- **Twemoji** images from \`emoji-datasource-twitter\` 16.0.0 — CC-BY 4.0. *Twemoji graphics by
  Twitter, Inc and other contributors, licensed under CC-BY 4.0
  (https://creativecommons.org/licenses/by/4.0/); source: https://github.com/jdecked/twemoji. The
  images were flattened onto white and resized to 32×32 for training.*
- Captions from **emojibase-data** 17.0.0 (MIT): the emoji label, up to two tags (each visit drops
  tags at random) and a style phrase (\`noto style\` / \`twemoji style\`).
- **OpenMoji** (CC-BY-SA 4.0) is deliberately *not* in the training data: it is the reference brand
  style for evaluating style fine-tuning.
- Concepts: emoji without skin-tone variants; flags are left out (little signal at 32 px); a
  deterministic 10 % of every group is held out. \`training_data.json\` lists the
  ${data?.trainConcepts.length ?? '?'} training and ${data?.heldOutConcepts.length ?? '?'} held-out concept ids; ${trainImages.toLocaleString('en')} training images.

## Training

\`\`\`bash
npm run pretrain -- --steps ${log?.scheduleSteps ?? EMOJI_BASE_TRAINING_STEPS} --batch ${log?.batchSize ?? 64}${lrFlag}${focusFlags} --resume
\`\`\`

Recipe: v-prediction with cosine betas, Min-SNR-γ loss weighting (γ = ${T.minSnrGamma}), ${pct(T.captionDropout)} caption dropout for
classifier-free guidance, AdamW (lr ${log?.lr ?? DEFAULT_PRETRAIN_LR}, ${T.warmupSteps} warm-up steps, cosine decay to ${pct(T.minLrRatio)}, weight
decay ${T.weightDecay} on weights), gradient clipping at ${T.gradClip}, an EMA of the weights (${T.emaDecay}; the EMA weights are
exported), fixed seeds, checkpoints every 500 steps (\`--resume\` continues exactly; without a
checkpoint it continues from this folder's weights and logged step; a folder trained on by later
phases is refused, since its weights are newer than any checkpoint). Every step runs forward, loss and
gradients as one ONNX Runtime session call (the engine's gradient graphs), on CPU.${focusNote}

Compute on CPU (\`training_log.json\`): ${compute}.${scheduleNote}
${later.section}
## Scores

Measured with the project's emoji scorer (\`models/emoji-scorer/\`) by
\`npm run eval -- --json --base-only\`:

${scores}

## Limitations

32×32 pixels, one emoji per image on white; it knows the emoji vocabulary and the two styles it was
trained on, nothing else. Unknown words map to \`[UNK]\`. Hearts, suns, faces, cat faces and trees
come out reliably in both styles, and the Noto pizza is a clear slice. Detailed objects are where it
still fails now and then: of 8 images each (\`npm run generate -- --prompt "…" --num 8 --seed 100\`),
\`rocket, space, twemoji style\` gave 8 rockets, \`rocket, space, noto style\` 7, \`pizza, noto style\`
8 slices, but \`pizza, cheese, twemoji style\` only 2 (3 with 35 solver steps): the Twemoji pizza is
mostly a blob of the right colours, and two of the grid's four rockets above are blobs. On CPU alone (24,500 steps) pizza and rocket were blobs in every
sample; the GPU phases, with 1.5 times the CPU's samples again, fixed most of that. At this size more
training helped more than width: in phase 1's 7 minutes on the GPU, training from scratch reached
concept top-5 0.828 with this architecture and 0.797 with wider blocks (64/112/144, 7.0 M UNet
parameters), against 0.883 for phase 1's continuation of the CPU-trained weights.
`;
  await fsp.writeFile(path.join(dir, 'README.md'), card);
  return card;
}
