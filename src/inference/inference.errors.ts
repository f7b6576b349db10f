/** The base model could not be loaded (missing or unreadable weights). */
export class ModelUnavailableError extends Error {}

/** An adapter's file does not fit the base model's layers. */
export class AdapterMismatchError extends Error {
  constructor(readonly adapterId: string, reason: string) {
    super(reason);
  }
}
