import { Topics, type EventMetadata } from '@tributary/contracts';
import { lifecycleAnnouncement, stageChangeOf } from './lead-announcements';

const cause: EventMetadata = {
  eventId: 'capture-1',
  occurredAt: 1_000,
  workspaceId: 'ws_ann',
  source: 'forms',
  correlationId: 'request-1',
  causationId: null,
};
const contact = { _id: 'ws_ann:ada', workspaceId: 'ws_ann' };

describe('lifecycleAnnouncement', () => {
  it("re-announces a recorded move from its stage history entry with the first announcement's id", () => {
    const at = new Date(5_000);
    const { entry, metadata } = stageChangeOf('lead', { to: 'mql', reason: 'score-threshold' }, cause, at);
    const first = lifecycleAnnouncement(contact, entry, 42, metadata);
    const again = lifecycleAnnouncement(contact, entry, 42);

    expect(entry).toMatchObject({
      from: 'lead',
      to: 'mql',
      causeEventId: 'capture-1',
      eventId: metadata.eventId,
    });
    expect(first).toMatchObject({
      topic: Topics.LifecycleChanged,
      key: 'ws_ann:ada',
      event: { contactId: 'ws_ann:ada', from: 'lead', to: 'mql', reason: 'score-threshold', score: 42 },
    });
    expect(again).toEqual({
      ...first,
      event: {
        ...first.event,
        metadata: {
          eventId: metadata.eventId,
          occurredAt: 5_000,
          workspaceId: 'ws_ann',
          source: metadata.source,
          correlationId: 'capture-1',
          causationId: 'capture-1',
        },
      },
    });
  });

  it('derives a different id per target stage of one cause', () => {
    const toLead = stageChangeOf(null, { to: 'lead', reason: 'lead-captured' }, cause, new Date(0));
    const toMql = stageChangeOf('lead', { to: 'mql', reason: 'score-threshold' }, cause, new Date(0));
    expect(toLead.entry.eventId).not.toBe(toMql.entry.eventId);
    expect(toLead.metadata).toMatchObject({ causationId: 'capture-1', correlationId: 'request-1' });
  });
});
