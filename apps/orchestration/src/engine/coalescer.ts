/**
 * Turns the single writes and reads of many enrollments running at once into one store command: calls made in the
 * same turn of the event loop (up to `maxItems`) are handed to `run` together, and each caller gets its own result.
 * The runner's per-enrollment logic stays as it reads; the store sees a bulk per claim instead of a command per step.
 */
export class Coalescer<In, Out> {
  private pending: { item: In; resolve: (out: Out) => void; reject: (error: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly run: (items: In[]) => Promise<Out[]>,
    private readonly maxItems = 1_000,
  ) {}

  add(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.maxItems) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    this.run(batch.map((entry) => entry.item)).then(
      (results) => batch.forEach((entry, i) => entry.resolve(results[i] as Out)),
      (error: unknown) => batch.forEach((entry) => entry.reject(error)),
    );
  }
}
