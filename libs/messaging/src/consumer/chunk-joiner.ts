/** A handler call still taking chunks; `result` settles after the call. */
interface JoinedCall<C> {
  chunks: C[];
  records: number;
  result: Promise<boolean>;
}

/**
 * Joins the chunks of several partitions into one batch handler call per topic. kafkajs hands a fetch's partitions to
 * its workers at once, so the chunks of one fetch all arrive within one turn of the event loop: the call starts on
 * the next turn with what came, or earlier chunks go alone when the next one would exceed `maxRecords`.
 */
export class ChunkJoiner<C extends { messages: readonly unknown[] }> {
  private readonly joining = new Map<string, JoinedCall<C>>();

  /**
   * Adds `chunk` to its topic's open call, or opens one that `call`s with the chunks once this turn is over.
   * Resolves with the call's result, shared by every chunk in it.
   */
  join(
    topic: string,
    chunk: C,
    maxRecords: number,
    call: (chunks: C[]) => Promise<boolean>,
  ): Promise<boolean> {
    let open = this.joining.get(topic);
    if (open && open.records + chunk.messages.length > maxRecords) {
      this.joining.delete(topic);
      open = undefined;
    }
    if (!open) {
      const chunks: C[] = [];
      const started: JoinedCall<C> = {
        chunks,
        records: 0,
        result: new Promise<boolean>((resolve) =>
          setImmediate(() => {
            if (this.joining.get(topic) === started) this.joining.delete(topic);
            resolve(call(chunks));
          }),
        ),
      };
      this.joining.set(topic, started);
      open = started;
    }
    open.chunks.push(chunk);
    open.records += chunk.messages.length;
    return open.result;
  }
}
