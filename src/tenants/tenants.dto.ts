import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsNotEmpty, IsString, MaxLength } from 'class-validator';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export class CreateTenantDto {
  @ApiProperty({ example: 'Acme Studio', maxLength: 200, description: 'Display name of the customer.' })
  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name: string;
}

export class TenantDto {
  @ApiProperty({ format: 'uuid', example: '3f0c1b8e-4a8d-4c1e-9f5e-2b7a1d9c6e01' })
  id: string;

  @ApiProperty({ example: 'Acme Studio' })
  name: string;

  @ApiProperty({ format: 'date-time', example: '2025-11-26T09:30:00.000Z' })
  createdAt: string;
}

export class CreatedTenantDto {
  @ApiProperty({ format: 'uuid', example: '3f0c1b8e-4a8d-4c1e-9f5e-2b7a1d9c6e01' })
  id: string;

  @ApiProperty({ example: 'Acme Studio' })
  name: string;

  @ApiProperty({
    example: 'sk_Q2x9mZp4RtYb_8v1c2W3x4Y5z6A7b8C9d0E1f2G3h4I5j6K7l8M9n0O1p2Q',
    description: 'The tenant API key. Shown only in this response; only its hash is stored.',
  })
  apiKey: string;

  @ApiProperty({
    example: 'whsec_4f1c0d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b',
    description: 'Signs this tenant’s webhooks (X-Saas-Signature). Readable later with GET /v1/webhooks/secret, rotatable.',
  })
  webhookSecret: string;
}

export class TenantListDto {
  @ApiProperty({ type: [TenantDto] })
  data: TenantDto[];
}
