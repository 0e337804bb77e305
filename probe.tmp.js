const { MongoClient } = require('mongodb');
(async () => {
  const c = await MongoClient.connect('mongodb://127.0.0.1:27017');
  const coll = c.db('probecheck').collection('p');
  await coll.insertOne({ _id: 'u', n: 0 });
  const end = Date.now() + Number(process.argv[2] || 10) * 1000;
  let n = 0; const t0 = performance.now();
  while (Date.now() < end) { await coll.findOne({ _id: 'u' }); n++; }
  console.log('findOne sequential', n, 'mean ms', ((performance.now() - t0) / n).toFixed(3));
  await c.db('probecheck').dropDatabase(); await c.close();
})();
