import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** OpenAPI description of `POST /v1/leads` (validation is leadFormSchema; keep the two in step). */
export class LeadFormModel {
  @ApiProperty({
    example: 'Ada@Example.com',
    description: 'Trimmed and lower-cased before use.',
    maxLength: 254,
  })
  email!: string;

  @ApiPropertyOptional({ example: 'Ada', maxLength: 200 })
  firstName?: string;

  @ApiPropertyOptional({ example: 'Lovelace', maxLength: 200 })
  lastName?: string;

  @ApiPropertyOptional({ example: 'Analytical Engines Ltd', maxLength: 200 })
  company?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'boolean' },
    example: { email_marketing: true },
    description: "Consent answers by purpose; the workspace's required consents must be present and true.",
  })
  consents?: Record<string, boolean>;

  @ApiPropertyOptional({ example: 'pricing-page-demo', maxLength: 200 })
  formId?: string;

  @ApiPropertyOptional({
    example: '7d1c9a52-1f0e-4d8e-b5b5-0c8f0c1f9e11',
    maxLength: 200,
    description: 'Client id of this submission; retries with the same id capture the lead once.',
  })
  submissionId?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { utm_campaign: 'spring' },
    description: 'Further form fields, carried as raw fields.',
  })
  fields?: Record<string, unknown>;
}

export class LeadCapturedResponseModel {
  @ApiProperty({ example: true })
  success!: boolean;

  @ApiProperty({ description: 'Stable id of the person in the workspace.' })
  leadId!: string;

  @ApiProperty({ description: 'Id of the leads.captured event (the same for a retried submission).' })
  eventId!: string;

  @ApiProperty({ description: 'True when this submission was already captured (idempotent retry).' })
  duplicate!: boolean;
}
