import type { OffsetsByTopicPartition } from 'kafkajs';
import { CommitBatcher, type OffsetCommitter } from './commit-batcher';

const someOffsets: OffsetsByTopicPartition = {
  topics: [{ topic: 't', partitions: [{ partition: 0, offset: '5' }] }],
};

/** A payload whose consumer has `offsets` uncommitted; records each commit request. */
function payload(offsets: OffsetsByTopicPartition, outcome: 'ok' | Error = 'ok') {
  const committed: OffsetsByTopicPartition[] = [];
  const committer: OffsetCommitter = {
    uncommittedOffsets: () => offsets,
    commitOffsetsIfNecessary: (sent) => {
      if (sent) committed.push(sent);
      return outcome === 'ok' ? Promise.resolve() : Promise.reject(outcome);
    },
  };
  return { committer, committed };
}

describe('CommitBatcher (one offset commit per turn of the event loop)', () => {
  it('sends one commit for the batches that end in the same turn', async () => {
    const commits = new CommitBatcher();
    const first = payload(someOffsets);
    const second = payload(someOffsets);
    await Promise.all([commits.commitResolved(first.committer), commits.commitResolved(second.committer)]);
    expect(first.committed).toEqual([someOffsets]);
    expect(second.committed).toEqual([]);
  });

  it('sends a new commit for a batch that ends in a later turn', async () => {
    const commits = new CommitBatcher();
    const { committer, committed } = payload(someOffsets);
    await commits.commitResolved(committer);
    await commits.commitResolved(committer);
    expect(committed).toEqual([someOffsets, someOffsets]);
  });

  it('sends nothing when no offset is uncommitted', async () => {
    const commits = new CommitBatcher();
    const { committer, committed } = payload({ topics: [] });
    await commits.commitResolved(committer);
    expect(committed).toEqual([]);
  });

  it('rejects every batch sharing a failed commit, and the next turn commits afresh', async () => {
    const commits = new CommitBatcher();
    const failing = payload(someOffsets, new Error('coordinator moved'));
    const results = await Promise.allSettled([
      commits.commitResolved(failing.committer),
      commits.commitResolved(failing.committer),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const working = payload(someOffsets);
    await commits.commitResolved(working.committer);
    expect(working.committed).toEqual([someOffsets]);
  });
});
