import { Body, Controller, Delete, Get, HttpCode, Post, StreamableFile, UseInterceptors } from '@nestjs/common';
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
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentTenant, TenantContext, TenantScoped } from '../auth/auth.decorators';
import { ErrorResponseDto } from '../http/error-response.dto';
import { ApiIdParam, IdParam } from '../http/id-param';
import { UploadedPart, UploadedParts } from '../http/multipart';
import { AdapterImportInterceptor } from './adapter-import.interceptor';
import { AdapterDto, AdapterListDto, IMPORT_ADAPTER_SCHEMA, ImportAdapterFieldsDto } from './adapters.dto';
import { AdaptersService } from './adapters.service';

@ApiTags('adapters')
@TenantScoped()
@Controller('v1/adapters')
export class AdaptersController {
  constructor(private readonly adapters: AdaptersService) {}

  @Get()
  @ApiOperation({ summary: 'List LoRA adapters' })
  @ApiOkResponse({ type: AdapterListDto })
  listAdapters(@CurrentTenant() tenant: TenantContext): Promise<AdapterListDto> {
    return this.adapters.listAdapters(tenant.tenantId);
  }

  @Get(':id')
  @ApiIdParam('Adapter id')
  @ApiOperation({ summary: 'Get an adapter' })
  @ApiOkResponse({ type: AdapterDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  getAdapter(@CurrentTenant() tenant: TenantContext, @IdParam() id: string): Promise<AdapterDto> {
    return this.adapters.getAdapter(tenant.tenantId, id);
  }

  @Get(':id/weights')
  @ApiIdParam('Adapter id')
  @ApiOperation({
    summary: 'Download the adapter weights (.safetensors, diffusers/peft key names)',
    description: 'alpha/rank is folded into lora_B and the file records alpha = rank, so diffusers, peft and kohya-style loaders all apply it at the same strength.',
  })
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' }, description: 'The .safetensors file' })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  getAdapterWeights(@CurrentTenant() tenant: TenantContext, @IdParam() id: string): Promise<StreamableFile> {
    return this.adapters.openAdapterWeights(tenant.tenantId, id);
  }

  @Post()
  @HttpCode(201)
  @UseInterceptors(AdapterImportInterceptor)
  @ApiOperation({
    summary: 'Import a LoRA adapter',
    description:
      'A .safetensors file whose tensors are `*.lora_A.weight`/`*.lora_B.weight`, `*.lora.down.weight`/`*.lora.up.weight` or kohya `lora_unet_*.lora_down.weight`/`lora_up.weight` pairs. ' +
      'Alpha comes from the file (kohya `.alpha` tensors, `lora_adapter_metadata`, `alpha` metadata) or, for peft `save_pretrained` output, from its adapter_config.json sent as `adapterConfig`; a peft file with neither is refused. ' +
      'A named base model (field or `base_model` metadata) must be served here and the file must fit it.',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: IMPORT_ADAPTER_SCHEMA })
  @ApiCreatedResponse({ type: AdapterDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Missing fields, not a LoRA safetensors file, alpha unknown without adapterConfig, or a base model not served or not fitted' })
  @ApiPayloadTooLargeResponse({ type: ErrorResponseDto })
  importAdapter(
    @CurrentTenant() tenant: TenantContext,
    @Body() fields: ImportAdapterFieldsDto,
    @UploadedParts() parts: UploadedPart[],
  ): Promise<AdapterDto> {
    return this.adapters.importAdapter(tenant.tenantId, fields, parts);
  }

  @Delete(':id')
  @ApiIdParam('Adapter id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete an adapter and its weights' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  deleteAdapter(@CurrentTenant() tenant: TenantContext, @IdParam() id: string): Promise<void> {
    return this.adapters.deleteAdapter(tenant.tenantId, id);
  }
}
