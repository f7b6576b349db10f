import { Body, Controller, Get, HttpCode, Post, Query, Res, StreamableFile } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentTenant, TenantContext, TenantScoped } from '../auth/auth.decorators';
import { ErrorResponseDto } from '../http/error-response.dto';
import { ApiIdParam, IdParam } from '../http/id-param';
import { ListQueryDto } from '../http/list-query.dto';
import { FineTuneEventsService } from './fine-tune-events.service';
import { CreateFineTuneDto, FineTuneDto, FineTuneListDto, FineTuneWebhookDeliveryListDto } from './fine-tunes.dto';
import { FineTunesService } from './fine-tunes.service';

@ApiTags('fine-tunes')
@TenantScoped()
@Controller('v1/fine-tunes')
export class FineTunesController {
  constructor(
    private readonly fineTunes: FineTunesService,
    private readonly events: FineTuneEventsService,
  ) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({
    summary: 'Start a fine-tune: a dataset becomes a LoRA adapter',
    description:
      'Queues a training job; a worker process picks it up. `dro` is Diffusion-DRO, `sft` a plain denoising fine-tune. ' +
      'With `initAdapterId` the job is the next online round: training continues from that adapter.',
  })
  @ApiCreatedResponse({ type: FineTuneDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid field, dataset too small, base model not installed' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'The dataset or initial adapter does not exist' })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: 'No baseModel given and the bundled model is not installed' })
  createFineTune(@CurrentTenant() tenant: TenantContext, @Body() body: CreateFineTuneDto): Promise<FineTuneDto> {
    return this.fineTunes.createFineTune(tenant.tenantId, body);
  }

  @Get()
  @ApiOperation({ summary: 'List fine-tunes, newest first' })
  @ApiOkResponse({ type: FineTuneListDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  listFineTunes(@CurrentTenant() tenant: TenantContext, @Query() query: ListQueryDto): Promise<FineTuneListDto> {
    return this.fineTunes.listFineTunes(tenant.tenantId, query.limit);
  }

  @Get(':id')
  @ApiIdParam('Fine-tune id')
  @ApiOperation({ summary: 'Get a fine-tune: status, progress, metrics, resulting adapter' })
  @ApiOkResponse({ type: FineTuneDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  getFineTune(@CurrentTenant() tenant: TenantContext, @IdParam() id: string): Promise<FineTuneDto> {
    return this.fineTunes.getFineTune(tenant.tenantId, id);
  }

  @Get(':id/preview')
  @ApiIdParam('Fine-tune id')
  @ApiOperation({
    summary: 'Download the validation preview of a succeeded fine-tune (PNG)',
    description:
      'One row per preview prompt (`preview.prompts` of the fine-tune); the left half is the base model, the right half the adapter at its ' +
      'recommended scale, one image per seed in each half. 404 while the job has not succeeded or when the preview could not be generated.',
  })
  @ApiProduces('image/png')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' }, description: 'The PNG grid' })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  getFineTunePreview(@CurrentTenant() tenant: TenantContext, @IdParam() id: string): Promise<StreamableFile> {
    return this.fineTunes.openPreview(tenant.tenantId, id);
  }

  @Get(':id/events')
  @ApiIdParam('Fine-tune id')
  @ApiOperation({
    summary: 'Follow a fine-tune as server-sent events',
    description:
      '`event: status` (`{ id, status, cancelRequested, attempts }`) whenever the status changes; `event: progress` ' +
      '(`{ step, totalSteps, loss, expertDiff, policyDiff, activeFraction, gradNorm, stepsPerSecond, elapsedSeconds }`) as steps complete; ' +
      'finally `event: done` with the whole fine-tune, then the stream closes. Connecting mid-run or after the end first sends the current state.',
  })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: 'The event stream', schema: { type: 'string', example: 'event: progress\ndata: {"step":12,"totalSteps":300,"loss":0.0011}\n\n' } })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  streamFineTuneEvents(
    @CurrentTenant() tenant: TenantContext,
    @IdParam() id: string,
    @Res() response: Response,
  ): Promise<void> {
    return this.events.stream(tenant.tenantId, id, response);
  }

  @Get(':id/webhook-deliveries')
  @ApiIdParam('Fine-tune id')
  @ApiOperation({ summary: 'Webhook deliveries of a fine-tune: events, attempts, last answer' })
  @ApiOkResponse({ type: FineTuneWebhookDeliveryListDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  listFineTuneWebhookDeliveries(@CurrentTenant() tenant: TenantContext, @IdParam() id: string): Promise<FineTuneWebhookDeliveryListDto> {
    return this.fineTunes.listWebhookDeliveries(tenant.tenantId, id);
  }

  @Post(':id/cancel')
  @ApiIdParam('Fine-tune id')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Cancel a fine-tune',
    description: 'A queued job is canceled at once; a running one stops at its next step (status `canceled`, no adapter).',
  })
  @ApiOkResponse({ type: FineTuneDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The job already ended' })
  cancelFineTune(@CurrentTenant() tenant: TenantContext, @IdParam() id: string): Promise<FineTuneDto> {
    return this.fineTunes.cancelFineTune(tenant.tenantId, id);
  }
}
