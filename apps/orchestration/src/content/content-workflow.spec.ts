import {
  CONTENT_STATUSES,
  acceptedIn,
  afterAttempt,
  decide,
  dueDestinations,
  freshDestination,
  retryDelayMs,
  settle,
  startPublishing,
  startUnpublishing,
  unsupportedDestinations,
  type ContentCommand,
  type ContentStatus,
  type DestinationState,
  type RetryPolicy,
} from './content-workflow';

const author = 'key:author';
const reviewer = 'key:reviewer';
const facts = (status: ContentStatus, actor = author) => ({ status, authors: [author], actor });
const NOW = new Date('2026-03-02T09:00:00Z');
const policy: RetryPolicy = { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 60_000 };

const state = (overrides: Partial<DestinationState>): DestinationState => ({
  ...freshDestination('cms'),
  ...overrides,
});

describe('content status changes', () => {
  it('moves a draft through review to approved, and back to the author when changes are requested', () => {
    expect(decide(facts('draft'), { type: 'submit' })).toEqual({
      ok: true,
      from: 'draft',
      status: 'in_review',
      action: 'submitted',
    });
    expect(decide(facts('in_review', reviewer), { type: 'approve' })).toMatchObject({
      ok: true,
      status: 'approved',
    });
    expect(decide(facts('in_review', reviewer), { type: 'request_changes' })).toMatchObject({
      ok: true,
      status: 'changes_requested',
      action: 'changes_requested',
    });
    expect(decide(facts('changes_requested'), { type: 'edit' })).toMatchObject({ ok: true, status: 'draft' });
    expect(decide(facts('changes_requested'), { type: 'submit' })).toMatchObject({
      ok: true,
      status: 'in_review',
    });
  });

  it('never lets anyone who wrote a version approve it, whatever their scopes', () => {
    expect(decide(facts('in_review', author), { type: 'approve' })).toEqual({
      ok: false,
      refusal: 'forbidden',
      reason: 'you wrote a version of this content: someone who did not write it must approve it',
    });
    const coAuthored = { status: 'in_review' as const, authors: [author, reviewer], actor: reviewer };
    expect(decide(coAuthored, { type: 'approve' })).toMatchObject({ ok: false, refusal: 'forbidden' });
  });

  it('judges the status before the approver: approving a draft is a conflict, even for its author', () => {
    expect(decide(facts('draft', author), { type: 'approve' })).toMatchObject({
      ok: false,
      refusal: 'conflict',
    });
  });

  it('schedules and publishes only approved content, and retries a partial publish', () => {
    expect(decide(facts('approved'), { type: 'schedule' })).toMatchObject({ ok: true, status: 'scheduled' });
    expect(decide(facts('scheduled'), { type: 'schedule' })).toMatchObject({ ok: true, status: 'scheduled' });
    expect(decide(facts('scheduled'), { type: 'publish' })).toMatchObject({ ok: true, status: 'publishing' });
    expect(decide(facts('publish_failed'), { type: 'publish' })).toMatchObject({
      ok: true,
      status: 'publishing',
    });
    for (const status of ['draft', 'in_review', 'changes_requested', 'published', 'unpublished'] as const)
      expect(decide(facts(status), { type: 'publish' })).toMatchObject({ ok: false, refusal: 'conflict' });
  });

  it('unpublishes only what may be live', () => {
    expect(acceptedIn('unpublish')).toEqual(['published', 'publish_failed', 'unpublish_failed']);
    expect(decide(facts('approved'), { type: 'unpublish' })).toEqual({
      ok: false,
      refusal: 'conflict',
      reason: 'only published content can be unpublished (it is approved)',
    });
  });

  it('keeps content in review or live from being edited, and says what to do instead', () => {
    expect(decide(facts('in_review'), { type: 'edit' })).toMatchObject({
      ok: false,
      reason: 'content in review cannot be edited: ask for changes first',
    });
    expect(decide(facts('published'), { type: 'edit' })).toMatchObject({
      ok: false,
      reason: 'content that is published cannot be edited: unpublish it first',
    });
    // An edit of approved or scheduled content is a new version: it goes back to draft and needs approval again.
    expect(decide(facts('scheduled'), { type: 'edit' })).toMatchObject({ ok: true, status: 'draft' });
    expect(decide(facts('unpublished'), { type: 'edit' })).toMatchObject({ ok: true, status: 'draft' });
  });

  it('answers every command in every status, either moving on or with a reason', () => {
    const commands: ContentCommand['type'][] = [
      'edit',
      'submit',
      'approve',
      'request_changes',
      'schedule',
      'publish',
      'unpublish',
    ];
    for (const status of CONTENT_STATUSES)
      for (const type of commands) {
        const decision = decide({ status, authors: [author], actor: reviewer }, { type });
        expect(decision.ok).toBe(acceptedIn(type).includes(status));
        // A refusal always says why; a move always says where to.
        expect(decision.ok ? decision.status : decision.reason).toMatch(/\w/);
      }
  });

  it('knows which destinations each kind may go to', () => {
    expect(unsupportedDestinations('blog_post', ['cms', 'social', 'newsletter'])).toEqual([]);
    expect(unsupportedDestinations('landing_page', ['cms', 'newsletter'])).toEqual(['newsletter']);
    expect(unsupportedDestinations('social_post', ['cms', 'social'])).toEqual(['cms']);
  });
});

describe('destinations while publishing', () => {
  it('republishes nothing that already shows the version: a retry goes only where it failed', () => {
    const done = state({ status: 'published', remoteId: '17', publishedVersion: 2, attempts: 1 });
    const failed = state({ name: 'social', status: 'failed', lastError: 'linkedin 500', attempts: 3 });
    expect(startPublishing([done, failed], 2)).toEqual([
      done,
      { ...failed, status: 'pending', attempts: 0, lastError: null },
    ]);
    // A new version goes everywhere again, updating in place where the remote id is known.
    expect(startPublishing([done], 3)).toEqual([{ ...done, status: 'pending', attempts: 0 }]);
  });

  it('calls the CMS first and the others once its copy exists, since they link to it', () => {
    const pending = [state({}), state({ name: 'social' }), state({ name: 'newsletter' })];
    expect(dueDestinations(pending, 'publish', NOW)).toEqual(['cms']);
    const cmsLater = [state({ nextAttemptAt: new Date(NOW.getTime() + 5_000) }), state({ name: 'social' })];
    expect(dueDestinations(cmsLater, 'publish', NOW)).toEqual([]);
    expect(settle(cmsLater, 'publish')).toEqual({
      status: 'publishing',
      wakeAt: new Date(NOW.getTime() + 5_000),
    });
    const cmsDone = [
      state({ status: 'published', remoteId: '1' }),
      state({ name: 'social' }),
      state({ name: 'newsletter' }),
    ];
    expect(dueDestinations(cmsDone, 'publish', NOW)).toEqual(['social', 'newsletter']);
    const cmsGaveUp = [state({ status: 'failed' }), state({ name: 'social' })];
    expect(dueDestinations(cmsGaveUp, 'publish', NOW)).toEqual(['social']);
  });

  it('records a success with its remote id and the version it shows', () => {
    const after = afterAttempt(
      state({ attempts: 1, lastError: 'wordpress 503' }),
      { ok: true, remoteId: '42', remoteUrl: 'https://blog.example/hello/' },
      'publish',
      3,
      NOW,
      policy,
    );
    expect(after).toEqual({
      ...freshDestination('cms'),
      status: 'published',
      remoteId: '42',
      remoteUrl: 'https://blog.example/hello/',
      attempts: 2,
      publishedVersion: 3,
    });
  });

  it('retries after the Retry-After when it is longer than the backoff, with at most 20 % jitter', () => {
    const outcome = { ok: false as const, retryable: true, retryAfterMs: 30_000, reason: 'wordpress 429' };
    const low = afterAttempt(state({}), outcome, 'publish', 1, NOW, policy, () => 0);
    const high = afterAttempt(state({}), outcome, 'publish', 1, NOW, policy, () => 0.999);
    expect(low).toMatchObject({ status: 'pending', attempts: 1, lastError: 'wordpress 429' });
    expect(low.nextAttemptAt?.getTime()).toBe(NOW.getTime() + 30_000);
    expect(high.nextAttemptAt?.getTime()).toBeGreaterThan(NOW.getTime() + 35_000);
    expect(high.nextAttemptAt?.getTime()).toBeLessThanOrEqual(NOW.getTime() + 36_000);
  });

  it('backs off exponentially without a Retry-After, up to the cap', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, undefined, policy, () => 0))).toEqual([
      1_000, 2_000, 4_000, 8_000,
    ]);
    expect(retryDelayMs(20, undefined, policy, () => 0)).toBe(60_000);
  });

  it('gives up at once on a refusal retrying cannot fix, and after the last attempt on the rest', () => {
    const refused = afterAttempt(
      state({}),
      { ok: false, retryable: false, reason: 'wordpress 400: rest_invalid_param' },
      'publish',
      1,
      NOW,
      policy,
    );
    expect(refused).toMatchObject({
      status: 'failed',
      nextAttemptAt: null,
      lastError: 'wordpress 400: rest_invalid_param',
    });
    const spent = afterAttempt(
      state({ attempts: 2 }),
      { ok: false, retryable: true, reason: 'linkedin 503' },
      'publish',
      1,
      NOW,
      policy,
    );
    expect(spent).toMatchObject({ status: 'failed', lastError: 'linkedin 503 (gave up after 3 attempts)' });
  });

  it('settles published when every destination got there, publish_failed when one gave up', () => {
    const published = state({ status: 'published', remoteId: '1' });
    expect(settle([published, { ...published, name: 'social' }], 'publish')).toEqual({
      status: 'published',
      wakeAt: null,
    });
    expect(settle([published, state({ name: 'social', status: 'failed' })], 'publish')).toEqual({
      status: 'publish_failed',
      wakeAt: null,
    });
    const retrying = state({ name: 'social', nextAttemptAt: new Date(NOW.getTime() + 2_000) });
    expect(settle([published, retrying], 'publish')).toEqual({
      status: 'publishing',
      wakeAt: retrying.nextAttemptAt,
    });
  });
});

describe('destinations while unpublishing', () => {
  it('removes what may be live, keeps a sent newsletter, and skips where it never arrived', () => {
    const cms = state({ status: 'published', remoteId: '7', attempts: 2 });
    const social = state({ name: 'social', status: 'failed', remoteId: null });
    const newsletter = state({ name: 'newsletter', status: 'published', note: '12 sent' });
    expect(startUnpublishing([cms, social, newsletter])).toEqual([
      { ...cms, status: 'removing', attempts: 0 },
      { ...social, status: 'removed' },
      { ...newsletter, status: 'kept' },
    ]);
  });

  it('settles unpublished once everything removable is removed, unpublish_failed when a removal gave up', () => {
    const removing = startUnpublishing([state({ status: 'published', remoteId: '7' })]);
    expect(dueDestinations(removing, 'unpublish', NOW)).toEqual(['cms']);
    const [cms] = removing as [DestinationState];
    const removed = afterAttempt(
      cms,
      { ok: true, remoteId: '7', remoteUrl: null },
      'unpublish',
      1,
      NOW,
      policy,
    );
    expect(removed).toMatchObject({ status: 'removed', remoteId: '7' });
    const kept = state({ name: 'newsletter', status: 'kept' });
    expect(settle([removed, kept], 'unpublish')).toEqual({ status: 'unpublished', wakeAt: null });
    const gaveUp = afterAttempt(
      cms,
      { ok: false, retryable: false, reason: 'wordpress 401: incorrect_password' },
      'unpublish',
      1,
      NOW,
      policy,
    );
    expect(settle([gaveUp], 'unpublish')).toEqual({ status: 'unpublish_failed', wakeAt: null });
    // The remote id stays, so unpublishing again knows what to remove.
    expect(startUnpublishing([gaveUp])).toEqual([
      { ...gaveUp, status: 'removing', attempts: 0, lastError: null },
    ]);
  });
});
