import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** Documentation models shared by the edge's endpoints (validation itself is zod; these only describe shapes). */
export class FieldProblemModel {
  @ApiProperty({ example: 'consents.email_marketing' })
  field!: string;

  @ApiProperty({ example: 'required consent is missing' })
  reason!: string;
}

export class ErrorModel {
  @ApiProperty({ example: 'invalid_request', description: 'Machine-readable error code.' })
  error!: string;

  @ApiPropertyOptional({ example: 'signature does not match', description: 'Why, when not field-specific.' })
  reason?: string;

  @ApiPropertyOptional({
    type: [FieldProblemModel],
    description: 'Every invalid field, when validation failed.',
  })
  problems?: FieldProblemModel[];
}
