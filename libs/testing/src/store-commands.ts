import type { CommandStartedEvent } from 'mongodb';
import type { Connection } from 'mongoose';

/**
 * Records, as JSON, every command a service's store connection sends about the given collections, from now on: what
 * a test counts to show a batch cost a few commands rather than a few per event. The connection must monitor
 * commands, which a service's does when STORE_SLOW_COMMAND_MS is set (any bound; a large one logs nothing).
 */
export function storeCommandsOn(connection: Connection, collections: readonly string[]): string[] {
  const commands: string[] = [];
  connection.getClient().on('commandStarted', (event: CommandStartedEvent) => {
    const collection: unknown = event.command[event.commandName];
    if (typeof collection === 'string' && collections.includes(collection))
      commands.push(JSON.stringify(event.command));
  });
  return commands;
}
