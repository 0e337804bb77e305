/**
 * Topic creation retries what a just-started broker cannot answer yet: kafkajs' `listTopics` throws on metadata that
 * is not there (seen under `npm start`), and the next attempt creates the missing topics. Unit level: the admin is a
 * stub, because a real broker cannot be made to fail this way on demand (messaging.int.spec covers real creation).
 */
import type { Admin } from 'kafkajs';
import { Catalog, Topics } from '@tributary/contracts';
import { ensureTopics } from './kafka-connection';

const captured = Catalog[Topics.LeadsCaptured];
const scored = Catalog[Topics.LeadsScored];

describe('ensureTopics', () => {
  it('retries a listTopics that fails on a broker still starting, then creates only what is missing', async () => {
    const listTopics = jest
      .fn<Promise<string[]>, []>()
      .mockRejectedValueOnce(new TypeError("Cannot destructure property 'topicMetadata' of null"))
      .mockResolvedValue(['leads.captured']);
    const createTopics = jest.fn().mockResolvedValue(true);
    const fetchTopicMetadata = jest.fn().mockResolvedValue({ topics: [] });
    const admin = { listTopics, createTopics, fetchTopicMetadata } as unknown as Admin;

    await ensureTopics(admin, [captured, scored], 1, 3);

    expect(listTopics).toHaveBeenCalledTimes(2);
    expect(createTopics).toHaveBeenCalledTimes(1);
    expect(createTopics.mock.calls[0][0].topics.map((t: { topic: string }) => t.topic)).toEqual([
      'leads.scored',
    ]);
  });

  it('gives up after its attempts with the error that kept failing', async () => {
    const admin = {
      listTopics: jest.fn().mockRejectedValue(new Error('metadata unavailable')),
      createTopics: jest.fn(),
      fetchTopicMetadata: jest.fn(),
    } as unknown as Admin;

    await expect(ensureTopics(admin, [scored], 1, 2)).rejects.toThrow(
      /could not create topics leads.scored: Error: metadata unavailable/,
    );
  });
});
