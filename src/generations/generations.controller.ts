import { BadRequestException, Body, Controller, Get, HttpCode, Param, ParseIntPipe, Post, Query, StreamableFile } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import { CurrentTenant, TenantContext, TenantScoped } from '../auth/auth.decorators';
import { ErrorResponseDto } from '../http/error-response.dto';
import { ApiIdParam, IdParam } from '../http/id-param';
import { ListQueryDto } from '../http/list-query.dto';
import { RateLimitBucket } from '../limits/rate-limit.decorator';
import { CreateGenerationDto, GenerationDto, GenerationListDto, ImageQueryDto } from './generations.dto';
import { GenerationsService } from './generations.service';

const ImageIndexParam = () =>
  Param('index', new ParseIntPipe({ exceptionFactory: () => new BadRequestException('index must be an integer') }));

@ApiTags('generations')
@TenantScoped()
@Controller('v1/generations')
export class GenerationsController {
  constructor(private readonly generations: GenerationsService) {}

  @Post()
  @HttpCode(201)
  @RateLimitBucket('generations')
  @ApiOperation({
    summary: 'Generate images, optionally in your adapters’ styles',
    description: 'Concurrent requests (any tenants, any adapters) are batched into one engine call; each result depends only on its own request.',
  })
  @ApiCreatedResponse({ type: GenerationDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'An adapter does not exist' })
  @ApiUnprocessableEntityResponse({ type: ErrorResponseDto, description: 'An adapter was made for another base model, or its layers do not fit this one' })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: 'The base model is not installed or cannot be loaded' })
  createGeneration(@CurrentTenant() tenant: TenantContext, @Body() body: CreateGenerationDto): Promise<GenerationDto> {
    return this.generations.createGeneration(tenant.tenantId, body);
  }

  @Get()
  @ApiOperation({ summary: 'List generations, newest first (without image data)' })
  @ApiOkResponse({ type: GenerationListDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  listGenerations(@CurrentTenant() tenant: TenantContext, @Query() query: ListQueryDto): Promise<GenerationListDto> {
    return this.generations.listGenerations(tenant.tenantId, query.limit);
  }

  @Get(':id')
  @ApiIdParam('Generation id')
  @ApiOperation({ summary: 'Get a generation’s parameters and image links' })
  @ApiOkResponse({ type: GenerationDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  getGeneration(@CurrentTenant() tenant: TenantContext, @IdParam() id: string): Promise<GenerationDto> {
    return this.generations.getGeneration(tenant.tenantId, id);
  }

  @Get(':id/images/:index')
  @ApiIdParam('Generation id')
  @ApiParam({ name: 'index', description: 'Image index (0-based)', schema: { type: 'integer', minimum: 0 } })
  @ApiOperation({ summary: 'Download a generated image (PNG)' })
  @ApiProduces('image/png')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' }, description: 'The PNG' })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  getGenerationImage(
    @CurrentTenant() tenant: TenantContext,
    @IdParam() id: string,
    @ImageIndexParam() index: number,
    @Query() query: ImageQueryDto,
  ): Promise<StreamableFile> {
    return this.generations.openGenerationImage(tenant.tenantId, id, index, query.upscale);
  }
}
