/*
 * Where everything of a tenant is stored: the one place that knows the layout. Keys are built from
 * ids only (never from user file names), so every key passes assertValidKey.
 *
 *   tenants/<tenant>/datasets/<dataset>/<image>/original.<ext>      an uploaded or kept image as sent
 *   tenants/<tenant>/datasets/<dataset>/<image>/train-<side>.png    its square RGB training copy
 *   tenants/<tenant>/generations/<generation>/<index>.png           a generated image
 *   tenants/<tenant>/adapters/<adapter>.safetensors                 an imported adapter
 *   tenants/<tenant>/adapters/ft-<fine-tune>.safetensors            a fine-tune's adapter (one per job)
 *   tenants/<tenant>/fine-tunes/<fine-tune>/preview.png             a fine-tune's validation preview
 *   tenants/<tenant>/fine-tunes/<fine-tune>/checkpoint/…            its training checkpoint (manifest + state)
 */

const tenantPrefix = (tenantId: string) => `tenants/${tenantId}`;

/** Everything stored for a dataset (deleted with it). */
export function datasetPrefix(tenantId: string, datasetId: string): string {
  return `${tenantPrefix(tenantId)}/datasets/${datasetId}`;
}

/** The objects of one dataset image: the original under its own extension and the training copy. */
export function datasetImageKeys(tenantId: string, datasetId: string, imageId: string, extension: string, trainingSide: number): { prefix: string; original: string; training: string } {
  const prefix = `${datasetPrefix(tenantId, datasetId)}/${imageId}`;
  return { prefix, original: `${prefix}/original.${extension}`, training: `${prefix}/train-${trainingSide}.png` };
}

/** Everything stored for a generation (its images). */
export function generationPrefix(tenantId: string, generationId: string): string {
  return `${tenantPrefix(tenantId)}/generations/${generationId}`;
}

export function generationImageKey(tenantId: string, generationId: string, index: number): string {
  return `${generationPrefix(tenantId, generationId)}/${index}.png`;
}

/** Every adapter file of a tenant, imported or fine-tuned. */
export function adaptersPrefix(tenantId: string): string {
  return `${tenantPrefix(tenantId)}/adapters`;
}

export function importedAdapterKey(tenantId: string, adapterId: string): string {
  return `${adaptersPrefix(tenantId)}/${adapterId}.safetensors`;
}

/** Every run of a job writes its adapter here, so a re-run replaces rather than adds a file. */
export function fineTuneAdapterKey(tenantId: string, fineTuneId: string): string {
  return `${adaptersPrefix(tenantId)}/ft-${fineTuneId}.safetensors`;
}

/** The job's preview grid, likewise one per job. */
export function fineTunePreviewKey(tenantId: string, fineTuneId: string): string {
  return `${tenantPrefix(tenantId)}/fine-tunes/${fineTuneId}/preview.png`;
}

/** A job's training checkpoint; resume and the next online round (its optimizer state) read it back. */
export function fineTuneCheckpointPrefix(tenantId: string, fineTuneId: string): string {
  return `${tenantPrefix(tenantId)}/fine-tunes/${fineTuneId}/checkpoint`;
}
