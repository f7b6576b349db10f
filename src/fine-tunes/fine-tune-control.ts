import { Logger } from '@nestjs/common';
import { FineTuneQueue } from '../queue/fine-tune-queue.port';
import { FineTunesRepository } from './fine-tunes.repository';

/** Why a running job stopped before its end: the tenant canceled it, the worker shuts down, or its lease went to another worker. */
export type InterruptReason = 'cancel' | 'stop' | 'lost';

/** How often a running job re-reads its row for a cancel request. */
const CONTROL_POLL_MS = 250;

/**
 * Keeps a running job's lease alive and turns a cancel request, a worker shutdown or a lost lease
 * into one abort signal for the trainer; the first reason wins.
 */
export class FineTuneControl {
  private readonly abort = new AbortController();
  private why?: InterruptReason;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly poll: NodeJS.Timeout;
  private readonly onStop = () => this.halt('stop');

  constructor(
    jobId: string,
    workerId: string,
    leaseMs: number,
    private readonly queue: FineTuneQueue,
    private readonly fineTunes: FineTunesRepository,
    private readonly logger: Logger,
    private readonly stop?: AbortSignal,
    onRenewal?: (result: 'renewed' | 'lost' | 'error') => void,
  ) {
    stop?.addEventListener('abort', this.onStop);
    if (stop?.aborted) this.halt('stop');
    this.heartbeat = setInterval(() => {
      this.queue.renew(jobId, workerId, leaseMs).then(
        (held) => {
          onRenewal?.(held ? 'renewed' : 'lost');
          if (!held) this.halt('lost');
        },
        (error) => {
          onRenewal?.('error');
          this.logger.warn(`lease renewal failed: ${error}`);
        },
      );
    }, Math.max(200, Math.floor(leaseMs / 3)));
    this.poll = setInterval(() => {
      this.fineTunes.readControl(jobId, workerId).then(
        (c) => (!c.held ? this.halt('lost') : c.cancelRequested ? this.halt('cancel') : undefined),
        (error) => this.logger.warn(`reading job control failed: ${error}`),
      );
    }, CONTROL_POLL_MS);
  }

  /** Aborted once any reason to stop came up. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get reason(): InterruptReason | undefined {
    return this.why;
  }

  /** Stops renewing and watching (the job ended, whichever way). */
  close(): void {
    clearInterval(this.heartbeat);
    clearInterval(this.poll);
    this.stop?.removeEventListener('abort', this.onStop);
  }

  private halt(why: InterruptReason): void {
    this.why ??= why;
    this.abort.abort();
  }
}
