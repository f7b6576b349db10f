import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { FineTuneEntity } from './fine-tune.entity';
import { FineTunesRepository } from './fine-tunes.repository';
import { FineTunesService, TERMINAL_STATUSES, toFineTuneDto } from './fine-tunes.service';

/** How often an open stream re-reads the job: the worker is another process and writes to the database. */
const POLL_MS = 250;
/** Comment lines keep idle connections open through proxies. */
const KEEPALIVE_MS = 15_000;

/**
 * Server-sent events for one fine-tune: `status` when the status changes, `progress` when a step
 * completes (step, totalSteps and the latest metrics), then one `done` event with the final job and
 * the stream ends. A client connecting mid-run or after the end gets the current state first.
 */
@Injectable()
export class FineTuneEventsService implements BeforeApplicationShutdown {
  private readonly open = new Set<Promise<void>>();
  private shuttingDown = false;

  constructor(
    private readonly fineTunes: FineTunesRepository,
    private readonly service: FineTunesService,
  ) {}

  async stream(tenantId: string, id: string, response: Response): Promise<void> {
    // Unknown or foreign jobs fail before any header is sent, as a normal JSON 404.
    const job = await this.service.requireFineTune(tenantId, id);
    const streaming = this.follow(tenantId, job, response);
    this.open.add(streaming);
    try {
      await streaming;
    } finally {
      this.open.delete(streaming);
    }
  }

  /** Open streams end (clients reconnect elsewhere) so the HTTP server can close. */
  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    await Promise.allSettled([...this.open]);
  }

  private async follow(tenantId: string, first: FineTuneEntity, response: Response): Promise<void> {
    const id = first.id;
    let job: FineTuneEntity | null = first;
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    response.write('retry: 2000\n\n');

    let closed = false;
    let lastStatus: string | undefined;
    let lastProgress: string | undefined;
    let lastWrite = Date.now();
    // The response closes when the client goes away (the request's own close only means its body was read).
    response.on('close', () => (closed = true));
    const send = (event: string, data: unknown) => {
      response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      lastWrite = Date.now();
    };

    try {
      while (!closed && !this.shuttingDown && job) {
        if (job.status !== lastStatus) {
          lastStatus = job.status;
          send('status', { id: job.id, status: job.status, cancelRequested: job.cancelRequested, attempts: job.attempts });
        }
        // One event per step reached; the final metrics of a finished job travel in `done`.
        const position = `${job.step}/${job.totalSteps}`;
        if (position !== lastProgress) {
          lastProgress = position;
          send('progress', { step: job.step, totalSteps: job.totalSteps, ...job.metrics });
        }
        if (TERMINAL_STATUSES.has(job.status)) {
          send('done', toFineTuneDto(job));
          break;
        }
        if (Date.now() - lastWrite >= KEEPALIVE_MS) {
          response.write(': keep-alive\n\n');
          lastWrite = Date.now();
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        if (!closed && !this.shuttingDown) job = await this.fineTunes.findForTenant(tenantId, id);
      }
      // The job vanished (its tenant was deleted) while the stream was open.
      if (!closed && !this.shuttingDown && !job) send('error', { message: `Fine-tune ${id} no longer exists` });
    } finally {
      response.end();
    }
  }
}
