// Progress output for long steps. On a TTY: live lines with a spinner and elapsed seconds, redrawn in place.
// Elsewhere (CI, pipes): plain lines only, a start line, a "still running" line every 10 s, and a result line.

export interface Task {
  /** Short detail shown after the elapsed time, e.g. which command runs now. */
  note(detail: string): void;
}

export interface Reporter {
  /** Progress and diagnostics (stderr in the CLI). */
  info(line: string): void;
  /** Results: tables, env lines (stdout in the CLI). */
  out(line: string): void;
  /** Runs a step, showing it as in progress until it settles. */
  task<T>(label: string, run: (task: Task) => Promise<T>): Promise<T>;
}

/** The part of a tty.WriteStream the reporter uses. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ReporterOptions {
  /** Where progress goes; default process.stderr. */
  stream?: ProgressStream;
  /** Where results go; default process.stdout. */
  out?: (line: string) => void;
  /** Force TTY rendering on or off; default: the stream's isTTY (and not CI). */
  tty?: boolean;
  /** Non-TTY "still running" interval. */
  heartbeatMs?: number;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export const silentReporter: Reporter = {
  info: () => undefined,
  out: () => undefined,
  task: (_label, run) => run({ note: () => undefined }),
};

/** A reporter that sends everything to one callback (for callers that log through their own logger). */
export function lineReporter(log: (line: string) => void): Reporter {
  const stream: ProgressStream = {
    write: (chunk) =>
      chunk
        .replace(/\n$/, '')
        .split('\n')
        .forEach((line) => log(line)),
  };
  return createReporter({ stream, out: log, tty: false });
}

export function createReporter(options: ReporterOptions = {}): Reporter {
  const stream = options.stream ?? process.stderr;
  const out = options.out ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const tty = options.tty ?? (Boolean(stream.isTTY) && !process.env['CI']);
  const heartbeatMs = options.heartbeatMs ?? 10_000;

  interface Active {
    label: string;
    detail: string;
    started: number;
    lastBeat: number;
  }
  const active = new Set<Active>();
  let drawn = 0;
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;

  const seconds = (ms: number) => (ms / 1000).toFixed(1);
  const width = () => Math.max(20, (stream.columns || 100) - 1);

  // TTY: erase the live block, print permanent lines above it, redraw it.
  const clearBlock = () => (drawn > 0 ? `\x1b[${drawn}F\x1b[J` : '');
  const renderBlock = () => {
    frame = (frame + 1) % SPINNER.length;
    const lines = [...active].map((t) => {
      const elapsed = Math.floor((Date.now() - t.started) / 1000);
      const line = `  ${SPINNER[frame]} ${t.label}  ${elapsed}s${t.detail ? `  ${t.detail}` : ''}`;
      return line.length > width() ? `${line.slice(0, width() - 1)}…` : line;
    });
    drawn = lines.length;
    return lines.map((l) => `${l}\n`).join('');
  };
  const redraw = (permanent: string[] = []) => {
    const before = clearBlock();
    drawn = 0;
    stream.write(before + permanent.map((l) => `${l}\n`).join('') + renderBlock());
  };

  const heartbeat = () => {
    if (tty) return redraw();
    const now = Date.now();
    for (const t of active) {
      if (now - t.lastBeat >= heartbeatMs) {
        t.lastBeat = now;
        const elapsed = Math.round((now - t.started) / 1000);
        stream.write(`  … ${t.label}: still running (${elapsed} s)${t.detail ? `, ${t.detail}` : ''}\n`);
      }
    }
  };
  const ensureTimer = () => {
    if (!timer && active.size > 0) {
      timer = setInterval(heartbeat, tty ? 120 : 1000);
      timer.unref();
    } else if (timer && active.size === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  const permanent = (line: string) => {
    if (tty && active.size > 0) redraw([line]);
    else stream.write(`${line}\n`);
  };

  return {
    info: permanent,
    out: (line) => {
      if (tty && active.size > 0) {
        stream.write(clearBlock());
        drawn = 0;
        out(line);
        stream.write(renderBlock());
      } else {
        out(line);
      }
    },
    async task(label, run) {
      const t: Active = { label, detail: '', started: Date.now(), lastBeat: Date.now() };
      active.add(t);
      if (tty) redraw();
      else stream.write(`  → ${label}\n`);
      ensureTimer();
      const finish = (mark: string) => {
        active.delete(t);
        ensureTimer();
        const line = `  ${mark} ${label} (${seconds(Date.now() - t.started)} s)`;
        if (tty) redraw([line]);
        else stream.write(`${line}\n`);
      };
      try {
        const result = await run({
          note: (detail) => {
            // Plain output: only changes are worth a line (health polls repeat the same note).
            if (!tty && detail !== t.detail) stream.write(`    ${label}: ${detail}\n`);
            t.detail = detail;
          },
        });
        finish('✔');
        return result;
      } catch (error) {
        finish('✖');
        throw error;
      }
    },
  };
}
