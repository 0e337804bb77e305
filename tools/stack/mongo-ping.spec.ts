import { decodeOpMsgReply, encodeBson, encodeOpMsg } from './mongo-ping';

/** An OP_MSG reply around a raw BSON body. */
function reply(bson: Buffer): Buffer {
  const header = Buffer.alloc(21);
  header.writeInt32LE(21 + bson.length, 0);
  header.writeInt32LE(2013, 12);
  return Buffer.concat([header, bson]);
}

function doubleDoc(name: string, value: number): Buffer {
  const body = Buffer.concat([Buffer.from([0x01]), Buffer.from(`${name}\0`), Buffer.alloc(8)]);
  body.writeDoubleLE(value, body.length - 8);
  const doc = Buffer.alloc(4 + body.length + 1);
  doc.writeInt32LE(doc.length, 0);
  body.copy(doc, 4);
  return doc;
}

describe('encodeBson', () => {
  it('encodes {ping: 1, $db: "admin"} byte for byte', () => {
    expect(encodeBson({ ping: 1, $db: 'admin' }).toString('hex')).toBe(
      // length 30 | int32 "ping" 1 | string "$db" "admin" | end
      '1e000000' + '1070696e670001000000' + '022464620006000000' + '61646d696e00' + '00',
    );
  });
});

describe('encodeOpMsg', () => {
  it('writes the header (length, request id, opcode 2013), flags and a kind-0 section', () => {
    const msg = encodeOpMsg(7, { ping: 1, $db: 'admin' });
    expect(msg.readInt32LE(0)).toBe(msg.length);
    expect(msg.readInt32LE(4)).toBe(7);
    expect(msg.readInt32LE(12)).toBe(2013);
    expect(msg.readUInt32LE(16)).toBe(0);
    expect(msg.readUInt8(20)).toBe(0);
  });
});

describe('decodeOpMsgReply', () => {
  it('reads ok as a double', () => {
    expect(decodeOpMsgReply(reply(doubleDoc('ok', 1)))).toEqual({ ok: true });
    expect(decodeOpMsgReply(reply(doubleDoc('ok', 0)))).toEqual({ ok: false });
  });

  it('skips other fields and reads errmsg', () => {
    const doc = encodeBson({ n: 5, errmsg: 'no such command', ok: 0 });
    expect(decodeOpMsgReply(reply(doc))).toEqual({ ok: false, errmsg: 'no such command' });
  });

  it('rejects something that is not OP_MSG', () => {
    expect(() => decodeOpMsgReply(Buffer.alloc(30))).toThrow(/OP_MSG/);
  });
});
