import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '../auth/auth.decorators';
import { ErrorResponseDto } from '../http/error-response.dto';
import { CreatedTenantDto, CreateTenantDto, TenantListDto } from './tenants.dto';
import { TenantsService } from './tenants.service';

@ApiTags('tenants')
@AdminOnly()
@Controller('v1/tenants')
export class TenantsController {
  constructor(private readonly tenants: TenantsService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Create a tenant and its API key (admin token)' })
  @ApiCreatedResponse({ type: CreatedTenantDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  createTenant(@Body() body: CreateTenantDto): Promise<CreatedTenantDto> {
    return this.tenants.createTenant(body.name);
  }

  @Get()
  @ApiOperation({ summary: 'List tenants (admin token)' })
  @ApiOkResponse({ type: TenantListDto })
  listTenants(): Promise<TenantListDto> {
    return this.tenants.listTenants();
  }
}
