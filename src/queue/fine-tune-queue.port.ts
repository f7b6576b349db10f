/** A job handed to a worker: the fine-tune id and how often it has been claimed (1 = first run). */
export interface ClaimedFineTune {
  id: string;
  tenantId: string;
  attempt: number;
}

/** What lease recovery did with jobs whose worker stopped renewing. */
export interface RecoveredLeases {
  /** Back in the queue; the next worker resumes them from their checkpoint. */
  requeued: string[];
  /** Cancellation was requested while their worker was gone. */
  canceled: string[];
  /** Claimed too often without finishing (a job that keeps killing its worker). */
  failed: string[];
}

/**
 * Delivery of fine-tune jobs to workers. The job's row (status, progress, result) is the record the
 * API reads; a driver decides how workers find and hold jobs. The embedded driver uses the
 * fine_tunes table itself (atomic claim, leases renewed by heartbeats); the BullMQ driver delivers
 * job ids through Redis (locks, stalled-job recovery) and still records every state change in the row.
 * Abstract class so it doubles as the injection token.
 */
export abstract class FineTuneQueue {
  /** Makes a job whose row was just inserted as `queued` available to workers. */
  abstract enqueue(jobId: string): Promise<void>;
  /** Withdraws a job that was canceled before any worker took it. */
  abstract remove(jobId: string): Promise<void>;
  /** Atomically takes the oldest waiting job (status becomes `running`), held for `leaseMs`. */
  abstract claim(workerId: string, leaseMs: number): Promise<ClaimedFineTune | null>;
  /** Extends the lease; false when the job is no longer this worker's (lease lost, job finished). */
  abstract renew(jobId: string, workerId: string, leaseMs: number): Promise<boolean>;
  /** Gives a running job back to the queue (worker shutting down); its checkpoint lets the next worker resume. */
  abstract requeue(jobId: string, workerId: string): Promise<boolean>;
  /** Returns jobs whose lease expired to the queue (or ends them, see RecoveredLeases). */
  abstract recoverExpired(maxAttempts: number): Promise<RecoveredLeases>;
  /** Returns the jobs of a worker known to be dead right away, without waiting for its lease. */
  abstract releaseWorker(workerId: string): Promise<string[]>;
  /** Ends the delivery of a job this worker is done with, whatever the outcome recorded in its row. */
  abstract complete(jobId: string, workerId: string): Promise<void>;
  /** Releases connections (Redis); the embedded driver holds none of its own. */
  async close(): Promise<void> {}
  /** Subscribes to enqueues made through this instance (lets an embedded worker start at once). */
  abstract onEnqueued(listener: (jobId: string) => void): () => void;
}

/** Claims before a job is given up as failed: a job whose worker keeps dying would otherwise loop forever. */
export const MAX_FINE_TUNE_ATTEMPTS = 3;
