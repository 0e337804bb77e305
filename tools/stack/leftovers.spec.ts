import { Catalog } from '@tributary/contracts';
import { isTestDatabase, isTestTopic } from './leftovers';

describe('test leftovers', () => {
  it("matches what test runs create: their databases, topics and consumer groups' dead letters", () => {
    for (const name of ['test_rtmwyn1a2b3c_leads', 'test_tmwyn0aa11bb_msgtest', 'platform_batchmwyn0ff00aa'])
      expect({ name, test: isTestDatabase(name) }).toEqual({ name, test: true });
    for (const name of ['test.tmwyn0aa11bb.offers', 'dlq.leads.rtmwyn1a2b3c', 'dlq.msgtest.tmwyn0aa11bb'])
      expect({ name, test: isTestTopic(name) }).toEqual({ name, test: true });
  });

  it("never matches the services' databases, a bench's, or any catalog topic", () => {
    for (const name of ['tributary_leads', 'tributary_sync', 'bench_blmwyn76hcd40fb1_leads', 'admin'])
      expect({ name, test: isTestDatabase(name) }).toEqual({ name, test: false });
    for (const name of [...Object.keys(Catalog), 'dlq.leads', 'dlq.sync', '__consumer_offsets'])
      expect({ name, test: isTestTopic(name) }).toEqual({ name, test: false });
  });
});
