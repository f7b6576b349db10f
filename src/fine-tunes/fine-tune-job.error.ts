/** A problem with the job itself (missing model, unusable data): the job fails with this message. */
export class FineTuneJobError extends Error {}
