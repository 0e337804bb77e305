import { z } from 'zod';
import type { FieldProblem } from '@tributary/runtime';
import { MessageTemplates, type TemplateData } from '../channels/templates';
import type { JourneyDefinition } from './journey-definition';

/** Stands where a send puts the contact's one-click unsubscribe link: a preview has no recipient to sign it for. */
export const PREVIEW_UNSUBSCRIBE_URL = 'https://unsubscribe.invalid/preview';

export const previewRequest = z
  .object({
    stepId: z.string().min(1).max(64),
    version: z.number().int().min(1).optional(),
    /** A contact of the workspace whose profile fills `contact`; `attributes` then override its values. */
    contactId: z.string().min(1).max(256).optional(),
    attributes: z.record(z.union([z.string(), z.number(), z.boolean()])).default({}),
    /** The entry event's properties, as `event.*`. */
    event: z.record(z.unknown()).default({}),
  })
  .strict();
export type PreviewRequest = z.output<typeof previewRequest>;

/** The contact a preview renders for: a stored profile's values or none. */
export interface PreviewContact {
  contactId: string;
  attributes: Readonly<Record<string, string>>;
  stage: string | null;
  score: number;
}

export type RenderedPreview =
  | { stepId: string; type: 'email'; subject: string; html: string; text: string | null }
  | { stepId: string; type: 'sms'; body: string }
  | { stepId: string; type: 'onsite'; slot: string; content: string };

export type PreviewResult =
  { ok: true; value: RenderedPreview } | { ok: false; status: 400 | 404; errors: FieldProblem[] };

/**
 * Renders a message or on-site step's templates as the engine would (message-sender.ts and step-effects.ts: the
 * same engine, HTML escaped, the same `contact`/`event`/`journey` data), so a marketer sees the words before a
 * contact does. A template that fails to render comes back as its field's error.
 */
export async function previewStep(
  journey: JourneyDefinition,
  journeyRef: { id: string; version: number },
  request: PreviewRequest,
  contact: PreviewContact,
  templates: MessageTemplates = new MessageTemplates(),
): Promise<PreviewResult> {
  const step = journey.steps.find((s) => s.id === request.stepId);
  if (!step)
    return {
      ok: false,
      status: 404,
      errors: [{ field: 'stepId', reason: `no step ${request.stepId} in version ${journeyRef.version}` }],
    };
  if (step.type !== 'email' && step.type !== 'sms' && step.type !== 'onsite')
    return {
      ok: false,
      status: 400,
      errors: [{ field: 'stepId', reason: `a ${step.type} step has no templates to preview` }],
    };
  const attributes: Record<string, string> = { ...contact.attributes };
  for (const [name, value] of Object.entries(request.attributes)) attributes[name] = String(value);
  const data: TemplateData = {
    contact: { ...attributes, id: contact.contactId, stage: contact.stage, score: contact.score },
    event: request.event,
    journey: journeyRef,
    unsubscribe_url: PREVIEW_UNSUBSCRIBE_URL,
  };
  const errors: FieldProblem[] = [];
  const render = async (field: string, text: string, kind: 'html' | 'plain'): Promise<string> => {
    try {
      return await templates.render(text, data, kind);
    } catch (error) {
      errors.push({ field, reason: `template does not render: ${(error as Error).message}` });
      return '';
    }
  };
  let value: RenderedPreview;
  if (step.type === 'email') {
    const subject = await render('subject', step.subject, 'plain');
    const html = await render('html', step.html, 'html');
    const text = step.text === undefined ? null : await render('text', step.text, 'plain');
    value = { stepId: step.id, type: 'email', subject, html, text };
  } else if (step.type === 'sms')
    value = { stepId: step.id, type: 'sms', body: await render('body', step.body, 'plain') };
  else
    value = {
      stepId: step.id,
      type: 'onsite',
      slot: step.slot,
      content: await render('content', step.content, 'html'),
    };
  return errors.length > 0 ? { ok: false, status: 400, errors } : { ok: true, value };
}
