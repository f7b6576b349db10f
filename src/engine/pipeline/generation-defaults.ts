/** What a generation uses when the request leaves a setting out: the API's DTO, its service and the evaluations read these. */
export const GENERATION_DEFAULTS = {
  steps: 20,
  guidanceScale: 4,
  numImages: 1,
  scheduler: 'dpmpp-2m',
  /** Adapter strength when the request and the adapter name none. */
  scale: 1,
} as const;
