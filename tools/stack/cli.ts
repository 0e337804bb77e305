// `npm run stack -- up|down|status|logs|reset|prune|env`: thin commander wrapper over stack.ts.
import { Command, InvalidArgumentError } from 'commander';
import { COMPONENTS, loadConfig, stackComponents, type ComponentName } from './config';
import { describeFailure } from './errors';
import { removeTestLeftovers } from './leftovers';
import { showLogs } from './logs';
import {
  formatEnv,
  formatStatus,
  stackDown,
  stackEndpoints,
  stackReset,
  stackStatus,
  stackUp,
} from './stack';

function fail(error: unknown): never {
  process.stderr.write(`\n✖ ${describeFailure(error)}\n`);
  process.exit(1);
}

/** Runs a command, then exits: health-check clients may leave sockets/timers that would keep node alive. */
function action<A extends unknown[]>(run: (...args: A) => Promise<number | void>) {
  return async (...args: A) => {
    try {
      const code = await run(...args);
      process.exit(code ?? 0);
    } catch (error) {
      fail(error);
    }
  };
}

function parseLines(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number');
  return n;
}

function parseComponent(value: string): ComponentName {
  if (!(COMPONENTS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`must be one of ${COMPONENTS.join(', ')}`);
  }
  return value as ComponentName;
}

const program = new Command('stack')
  .description(
    'Local Tributary stack without Docker: Kafka (KRaft), Apicurio Registry, PostgreSQL, FerretDB.\n' +
      'Env: TRIBUTARY_STACK_DIR, TRIBUTARY_CACHE_DIR,\n' +
      'TRIBUTARY_{KAFKA,KAFKA_CONTROLLER,REGISTRY,REGISTRY_MGMT,POSTGRES,MONGO}_PORT, TRIBUTARY_STORE_BACKEND,\n' +
      'TRIBUTARY_POSTGRES_BIN, TRIBUTARY_KAFKA_JAVA, TRIBUTARY_REGISTRY_JAVA, TRIBUTARY_STACK_TIMEOUT_S.',
  )
  .showHelpAfterError();

program
  .command('up')
  .description('download/build what is missing, start everything, wait until healthy (no-op when already up)')
  .action(
    action(async () => {
      process.once('SIGINT', () => {
        process.stderr.write(
          '\ninterrupted: components started so far keep running; `npm run stack -- down` stops them\n',
        );
        process.exit(130);
      });
      await stackUp();
    }),
  );

program
  .command('down')
  .description('stop every component (SIGTERM to each process group, SIGKILL after a timeout)')
  .action(
    action(async () => {
      await stackDown();
    }),
  );

program
  .command('status')
  .description('state, pid, address and version of each component; exits 1 unless all are up')
  .option('--json', 'machine-readable output')
  .action(
    action(async (opts: { json?: boolean }) => {
      const status = await stackStatus();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      } else {
        process.stdout.write(`${formatStatus(status)}\n`);
        for (const c of status.components.filter((c) => c.detail)) {
          process.stdout.write(`\n${c.name}: ${c.detail}\n`);
        }
        process.stdout.write(`\nstack dir: ${status.stackDir}\n`);
        if (status.postgresData) process.stdout.write(`PostgreSQL data: ${status.postgresData}\n`);
      }
      return status.up ? 0 : 1;
    }),
  );

program
  .command('logs')
  .description('print the end of the component logs (all of them by default)')
  .argument('[component]', `one of ${COMPONENTS.join(', ')}`, parseComponent)
  .option('-n, --lines <n>', 'how many lines', parseLines, 50)
  .option('-f, --follow', 'keep printing new lines')
  .action(
    action(async (component: ComponentName | undefined, opts: { lines: number; follow?: boolean }) => {
      const config = loadConfig();
      await showLogs(config, component ? [component] : stackComponents(config), {
        lines: opts.lines,
        follow: opts.follow ?? false,
      });
    }),
  );

program
  .command('reset')
  .description('down, then delete the stack dir (data, logs); the download cache stays')
  .action(
    action(async () => {
      await stackReset();
    }),
  );

program
  .command('prune')
  .description(
    'drop test databases and delete test topics earlier runs left (not while tests run: it takes theirs too)',
  )
  .action(
    action(async () => {
      const endpoints = stackEndpoints();
      const removed = await removeTestLeftovers({
        kafkaBrokers: endpoints.kafkaBrokers.split(','),
        mongoUrl: endpoints.mongoUrl,
      });
      process.stdout.write(
        `removed ${removed.databases.length} test databases and ${removed.topics.length} test topics\n`,
      );
    }),
  );

program
  .command('env')
  .description('print the export lines for the apps, e.g. eval "$(npm run -s stack -- env)"')
  .action(
    action(async () => {
      for (const line of formatEnv(stackEndpoints())) process.stdout.write(`${line}\n`);
    }),
  );

program.parseAsync(process.argv).catch(fail);
