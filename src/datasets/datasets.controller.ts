import { Body, Controller, Delete, Get, HttpCode, Post, UseInterceptors } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentTenant, TenantContext, TenantScoped } from '../auth/auth.decorators';
import { ErrorResponseDto } from '../http/error-response.dto';
import { ApiIdParam, IdParam } from '../http/id-param';
import { UploadedPart, UploadedParts } from '../http/multipart';
import { DatasetUploadInterceptor } from './dataset-upload.interceptor';
import {
  CreateDatasetDto,
  DatasetDetailDto,
  DatasetDto,
  DatasetListDto,
  UPLOAD_IMAGES_SCHEMA,
  UploadImagesFieldsDto,
  UploadResultDto,
} from './datasets.dto';
import { DatasetsService } from './datasets.service';

@ApiTags('datasets')
@TenantScoped()
@Controller('v1/datasets')
export class DatasetsController {
  constructor(private readonly datasets: DatasetsService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Create an empty dataset' })
  @ApiCreatedResponse({ type: DatasetDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  createDataset(@CurrentTenant() tenant: TenantContext, @Body() body: CreateDatasetDto): Promise<DatasetDto> {
    return this.datasets.createDataset(tenant.tenantId, body.name);
  }

  @Get()
  @ApiOperation({ summary: 'List datasets' })
  @ApiOkResponse({ type: DatasetListDto })
  listDatasets(@CurrentTenant() tenant: TenantContext): Promise<DatasetListDto> {
    return this.datasets.listDatasets(tenant.tenantId);
  }

  @Get(':id')
  @ApiIdParam('Dataset id')
  @ApiOperation({ summary: 'Get a dataset with its images and a training dry run' })
  @ApiOkResponse({ type: DatasetDetailDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  getDataset(@CurrentTenant() tenant: TenantContext, @IdParam() id: string): Promise<DatasetDetailDto> {
    return this.datasets.getDataset(tenant.tenantId, id);
  }

  @Delete(':id')
  @ApiIdParam('Dataset id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a dataset and its stored images' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  deleteDataset(@CurrentTenant() tenant: TenantContext, @IdParam() id: string): Promise<void> {
    return this.datasets.deleteDataset(tenant.tenantId, id);
  }

  @Post(':id/images')
  @ApiIdParam('Dataset id')
  @HttpCode(200)
  @UseInterceptors(DatasetUploadInterceptor)
  @ApiOperation({
    summary: 'Add images to a dataset',
    description:
      'Repeated `images` parts (PNG, JPEG, WebP) with an optional `captions` JSON array in the same order, ' +
      'or one `.zip` (field `archive` or `images`) whose `name.txt` files caption `name.png`. ' +
      'Each file is added or rejected on its own (corrupt, unsupported_type, too_small, too_large, duplicate, unsafe_path).',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: UPLOAD_IMAGES_SCHEMA })
  @ApiOkResponse({ type: UploadResultDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiPayloadTooLargeResponse({ type: ErrorResponseDto })
  uploadDatasetImages(
    @CurrentTenant() tenant: TenantContext,
    @IdParam() id: string,
    @Body() fields: UploadImagesFieldsDto,
    @UploadedParts() parts: UploadedPart[],
  ): Promise<UploadResultDto> {
    return this.datasets.uploadDatasetImages(tenant.tenantId, id, parts, fields.captions);
  }
}
