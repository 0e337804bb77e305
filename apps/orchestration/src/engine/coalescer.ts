/**
 * Turns the single writes and reads of many enrollments running at once into one store command: calls made within
 * `windowMs` of the first (the same turn of the event loop when 0), up to `maxItems`, are handed to `run` together,
 * and each caller gets its own result. The runner's per-enrollment logic stays as it reads; the store sees a bulk
 * per claim instead of a command per step. A short window matters after provider calls: their answers arrive spread
 * over tens of milliseconds, and without it each answer's write would be a command of its own.
 */
export class Coalescer<In, Out> {
  private pending: { item: In; resolve: (out: Out) => void; reject: (error: unknown) => void }[] = [];
  private scheduled: { cancel(): void } | undefined;

  constructor(
    private readonly run: (items: In[]) => Promise<Out[]>,
    private readonly options: { maxItems?: number; windowMs?: number } = {},
  ) {}

  add(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= (this.options.maxItems ?? 1_000)) this.flush();
      else if (this.scheduled === undefined) {
        const windowMs = this.options.windowMs ?? 0;
        if (windowMs > 0) {
          const timer = setTimeout(() => this.flush(), windowMs);
          this.scheduled = { cancel: () => clearTimeout(timer) };
        } else {
          const immediate = setImmediate(() => this.flush());
          this.scheduled = { cancel: () => clearImmediate(immediate) };
        }
      }
    });
  }

  private flush(): void {
    this.scheduled?.cancel();
    this.scheduled = undefined;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    this.run(batch.map((entry) => entry.item)).then(
      (results) => batch.forEach((entry, i) => entry.resolve(results[i] as Out)),
      (error: unknown) => batch.forEach((entry) => entry.reject(error)),
    );
  }
}
