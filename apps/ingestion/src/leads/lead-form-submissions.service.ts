import { Inject, Injectable } from '@nestjs/common';
import { Topics } from '@tributary/contracts';
import { derivedEventId } from '@tributary/messaging';
import { SERVICE_CONFIG } from '@tributary/config';
import type { IngestionConfig } from '../config';
import type { FieldProblem } from './field-problem';
import { LeadCapture, type CaptureResult } from './lead-capture.service';
import { parseLeadForm } from './lead-form';

/** Form submissions: validation against the workspace's consent rules, then one `leads.captured` per submission. */
@Injectable()
export class LeadFormSubmissions {
  constructor(
    private readonly leads: LeadCapture,
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
  ) {}

  async submit(
    workspaceId: string,
    body: unknown,
    idempotencyKey: string | undefined,
  ): Promise<{ ok: true; result: CaptureResult } | { ok: false; problems: FieldProblem[] }> {
    if (idempotencyKey !== undefined && (idempotencyKey.length === 0 || idempotencyKey.length > 200)) {
      return { ok: false, problems: [{ field: 'Idempotency-Key', reason: 'must be 1 to 200 characters' }] };
    }
    const parsed = parseLeadForm(body, this.config.LEAD_REQUIRED_CONSENTS[workspaceId] ?? []);
    if (!parsed.ok) return parsed;
    const { form } = parsed;
    const now = Date.now();
    const key = idempotencyKey ?? form.submissionId;
    const result = await this.leads.capture(
      workspaceId,
      {
        email: form.email,
        firstName: form.firstName || null,
        lastName: form.lastName || null,
        company: form.company || null,
        consents: form.consents,
        source: 'form',
        externalId: null,
        formId: form.formId ?? null,
        rawFields: body,
        occurredAt: now,
      },
      // The event id derives from the key, so even two racing retries carry one id and downstream dedupe holds.
      key === undefined
        ? undefined
        : {
            eventId: derivedEventId(`form:${workspaceId}:${key}`, Topics.LeadsCaptured),
            scope: 'leads:form',
            deliveryId: `${workspaceId}:${key}`,
          },
    );
    return { ok: true, result };
  }
}
