// A bare MongoDB `ping` over OP_MSG. The official driver ends every client with `endSessions`, which FerretDB
// does not implement and logs as a multi-line WARN: with a health check every 500 ms that floods mongo.log.
import * as net from 'node:net';

const OP_MSG = 2013;

/** BSON for a flat document of int32 and string values (all a ping needs). */
export function encodeBson(doc: Record<string, number | string>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(doc)) {
    const name = Buffer.from(`${key}\0`, 'utf8');
    if (typeof value === 'number') {
      const int = Buffer.alloc(4);
      int.writeInt32LE(value);
      parts.push(Buffer.from([0x10]), name, int);
    } else {
      const str = Buffer.from(`${value}\0`, 'utf8');
      const len = Buffer.alloc(4);
      len.writeInt32LE(str.length);
      parts.push(Buffer.from([0x02]), name, len, str);
    }
  }
  const body = Buffer.concat(parts);
  const out = Buffer.alloc(4 + body.length + 1);
  out.writeInt32LE(out.length, 0);
  body.copy(out, 4);
  return out;
}

export function encodeOpMsg(requestId: number, doc: Record<string, number | string>): Buffer {
  const bson = encodeBson(doc);
  const header = Buffer.alloc(16 + 4 + 1);
  header.writeInt32LE(header.length + bson.length, 0);
  header.writeInt32LE(requestId, 4);
  header.writeInt32LE(0, 8);
  header.writeInt32LE(OP_MSG, 12);
  header.writeUInt32LE(0, 16); // flagBits
  header.writeUInt8(0, 20); // section kind 0: the body document
  return Buffer.concat([header, bson]);
}

/** Reads `ok` and `errmsg` from an OP_MSG reply; other fields are skipped by type. */
export function decodeOpMsgReply(reply: Buffer): { ok: boolean; errmsg?: string } {
  if (reply.length < 21 || reply.readInt32LE(12) !== OP_MSG) throw new Error('not an OP_MSG reply');
  const start = 21;
  const end = start + reply.readInt32LE(start) - 1;
  let i = start + 4;
  let ok = false;
  let errmsg: string | undefined;
  while (i < end) {
    const type = reply.readUInt8(i++);
    const nameEnd = reply.indexOf(0, i);
    const name = reply.toString('utf8', i, nameEnd);
    i = nameEnd + 1;
    switch (type) {
      case 0x01:
        if (name === 'ok') ok = reply.readDoubleLE(i) === 1;
        i += 8;
        break;
      case 0x02: {
        const len = reply.readInt32LE(i);
        if (name === 'errmsg') errmsg = reply.toString('utf8', i + 4, i + 4 + len - 1);
        i += 4 + len;
        break;
      }
      case 0x03:
      case 0x04:
        i += reply.readInt32LE(i);
        break;
      case 0x05:
        i += 4 + 1 + reply.readInt32LE(i);
        break;
      case 0x07:
        i += 12;
        break;
      case 0x08:
        if (name === 'ok') ok = reply.readUInt8(i) === 1;
        i += 1;
        break;
      case 0x0a:
        break;
      case 0x10:
        if (name === 'ok') ok = reply.readInt32LE(i) === 1;
        i += 4;
        break;
      case 0x09:
      case 0x11:
      case 0x12:
        if (name === 'ok') ok = reply.readBigInt64LE(i) === 1n;
        i += 8;
        break;
      case 0x13:
        i += 16;
        break;
      default:
        // Unknown type: cannot skip it, so stop with what has been read.
        return errmsg === undefined ? { ok } : { ok, errmsg };
    }
  }
  return errmsg === undefined ? { ok } : { ok, errmsg };
}

export function mongoPing(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let data = Buffer.alloc(0);
    const done = (error?: Error) => {
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () =>
      done(new Error(`no ping reply from ${host}:${port} within ${timeoutMs} ms`)),
    );
    socket.once('error', done);
    socket.once('connect', () => socket.write(encodeOpMsg(1, { ping: 1, $db: 'admin' })));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length < 4 || data.length < data.readInt32LE(0)) return;
      try {
        const reply = decodeOpMsgReply(data);
        done(reply.ok ? undefined : new Error(`ping failed: ${reply.errmsg ?? 'ok is not 1'}`));
      } catch (error) {
        done(error instanceof Error ? error : new Error(String(error)));
      }
    });
    socket.once('close', () =>
      done(new Error(`${host}:${port} closed the connection before answering ping`)),
    );
  });
}
