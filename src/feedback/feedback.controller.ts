import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentTenant, TenantContext, TenantScoped } from '../auth/auth.decorators';
import { UploadResultDto } from '../datasets/datasets.dto';
import { ErrorResponseDto } from '../http/error-response.dto';
import { ApiIdParam, IdParam } from '../http/id-param';
import { AddFromFeedbackDto, CreateFeedbackDto, FeedbackDto, FeedbackListDto } from './feedback.dto';
import { FeedbackService } from './feedback.service';

@ApiTags('feedback')
@TenantScoped()
@Controller('v1')
export class FeedbackController {
  constructor(private readonly feedback: FeedbackService) {}

  @Post('generations/:id/feedback')
  @ApiIdParam('Generation id')
  @HttpCode(201)
  @ApiOperation({ summary: 'Record implicit feedback on a generated image (selected, downloaded, liked, discarded)' })
  @ApiCreatedResponse({ type: FeedbackDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  createFeedback(@CurrentTenant() tenant: TenantContext, @IdParam() id: string, @Body() body: CreateFeedbackDto): Promise<FeedbackDto> {
    return this.feedback.createFeedback(tenant.tenantId, id, body);
  }

  @Get('generations/:id/feedback')
  @ApiIdParam('Generation id')
  @ApiOperation({ summary: 'List the feedback on a generation, oldest first' })
  @ApiOkResponse({ type: FeedbackListDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  listFeedback(@CurrentTenant() tenant: TenantContext, @IdParam() id: string): Promise<FeedbackListDto> {
    return this.feedback.listFeedback(tenant.tenantId, id);
  }

  @Post('datasets/:id/images/from-feedback')
  @ApiIdParam('Dataset id')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Add the images users kept to a dataset (the next training round’s demonstrations)',
    description:
      'Images with a `selected`, `downloaded` or `liked` signal and no later `discarded` one are added with their prompt as caption; ' +
      'pictures already in the dataset are rejected as duplicates. Then start the next round with `POST /v1/fine-tunes { datasetId, method, initAdapterId }`.',
  })
  @ApiOkResponse({ type: UploadResultDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  addImagesFromFeedback(@CurrentTenant() tenant: TenantContext, @IdParam() id: string, @Body() body: AddFromFeedbackDto): Promise<UploadResultDto> {
    return this.feedback.addImagesFromFeedback(tenant.tenantId, id, body);
  }
}
