import { Controller, Get, Param } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { TenantScoped } from '../auth/auth.decorators';
import { ErrorResponseDto } from '../http/error-response.dto';
import { BaseModelDto, BaseModelListDto } from './models.dto';
import { ModelsService } from './models.service';

@ApiTags('models')
@TenantScoped()
@Controller('v1/models')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Get()
  @ApiOperation({ summary: 'List the base models installed on this server' })
  @ApiOkResponse({ type: BaseModelListDto })
  listModels(): Promise<BaseModelListDto> {
    return this.models.listModels();
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get a base model with its configuration and model card' })
  @ApiOkResponse({ type: BaseModelDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  getModel(@Param('id') id: string): Promise<BaseModelDto> {
    return this.models.getModel(id);
  }
}
